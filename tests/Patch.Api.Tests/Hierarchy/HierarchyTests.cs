using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Common;
using Patch.Application.Hierarchy;
using Patch.Domain.Hierarchy;

namespace Patch.Api.Tests.Hierarchy;

[CollectionDefinition("hierarchy")]
public sealed class HierarchyCollection : ICollectionFixture<HierarchyFixture>;

/// <summary>
/// A parent, a child and a grandchild on three databases over real HTTP (C10): registration with single-use tokens,
/// the language alert, Differential and Complete runs, data verification catching a tampered row, a child catching up
/// after being away, pages applied again without duplicates, a parent whose log lost the child's checkpoint, read-only
/// replicated bulletins, a chain of three.
/// </summary>
[Collection("hierarchy")]
public sealed class when_servers_form_a_hierarchy(HierarchyFixture h)
{
    private const string CatalogTypes = "('bulletin_imported','bulletin_revised','software_update_added','software_update_revised')";

    private static readonly string CultureCatalog = """
        { "schemaVersion": "1.0", "catalogId": "cultures", "vendors": [{ "id": "ms", "name": "Microsoft" }],
          "products": [{ "id": "w22", "name": "Windows 10 Version 22H2 for x64-based Systems", "vendor": "ms" }],
          "bulletins": [{ "id": "KB9900001", "vendor": "ms", "title": "Language pack fix", "severity": "Important", "updates": [
            { "id": "u-en", "product": "w22", "culture": "en-US" }, { "id": "u-de", "product": "w22", "culture": "de-DE" },
            { "id": "u-fr", "product": "w22", "culture": "fr-FR" }, { "id": "u-neutral", "product": "w22" } ] }] }
        """;

    private static Task<string> CatalogAsync(HierarchyServer server, params string[] cultures) => HierarchySql.CatalogAsync(server.Db, cultures);

    private static async Task<string> TextAsync(HierarchyServer server, string sql)
    {
        await using var cmd = server.Db.CreateCommand(sql);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Computers with real Windows inventories, through the operator's bulk import (analysed as they are stored).</summary>
    private static async Task InventoriesAsync(HierarchyServer server, params (string Name, string Capture)[] computers)
    {
        var web = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        var lines = computers.Select(c => JsonSerializer.Serialize(new
        {
            name = c.Name,
            inventory = new Patch.Agent.Inventory.FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/" + c.Capture)).Read(),
        }, web));
        using var client = server.Admin();
        using var response = await client.PostAsync("/api/computers/inventories", new StringContent(string.Join("\n", lines) + "\n", Encoding.UTF8, "application/x-ndjson"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>A server's own figures as its home page gives them, in the roll-up's terms.</summary>
    private static async Task<(long Computers, long WithAgent, string Vulnerabilities, long Executed)> HomeAsync(HierarchyServer server)
    {
        var home = await server.GetAsync("/api/home");
        var vulnerabilities = string.Join(";", home.GetProperty("vulnerabilities").EnumerateArray()
            .Select(v => $"{v.GetProperty("severity").GetString()}={v.GetProperty("missingInstalls").GetInt64()}/{v.GetProperty("computers").GetInt64()}").Order(StringComparer.Ordinal));
        return (home.GetProperty("configuration").GetProperty("computers").GetInt64(), home.GetProperty("configuration").GetProperty("computersWithAgent").GetInt64(),
            vulnerabilities, home.GetProperty("delivery").GetProperty("executed").GetInt64());
    }

    private static (long, long, string, long) Figures(JsonElement f) => (f.GetProperty("computers").GetInt64(), f.GetProperty("computersWithAgent").GetInt64(),
        string.Join(";", f.GetProperty("vulnerabilities").EnumerateArray()
            .Select(v => $"{v.GetProperty("severity").GetString()}={v.GetProperty("missingInstalls").GetInt64()}/{v.GetProperty("computers").GetInt64()}").Order(StringComparer.Ordinal)),
        f.GetProperty("executed").GetInt64());

    private static int Count(JsonElement run, string name) => run.GetProperty("counts").GetProperty(name).GetInt32();

    private static async Task<ParentLink> LinkAsync(HierarchyServer server)
    {
        await using var query = server.Store.QuerySession();
        return (await query.LoadAsync<ParentLink>(ParentLink.StreamId))!;
    }

    /// <summary>Puts the child's checkpoint where it was (as if the commits after it were lost) or, ahead of the parent's log, where no parent has been.</summary>
    private static async Task MoveCheckpointAsync(HierarchyServer server, long to, Guid? lastEvent, long? lastSequence)
    {
        await using var session = server.Store.OpenSession(Actor.ServerTask("test"));
        session.Events.Append(ParentLink.StreamId, new CatalogPageReplicated("test", 0, to, lastEvent, 0, 0, 0, [], DateTimeOffset.UtcNow, lastSequence));
        await session.SaveChangesAsync();
    }

    [Fact]
    public async Task a_parent_child_and_grandchild_replicate_the_catalog()
    {
        var (parent, child, grandchild) = (h.Parent, h.Child, h.Grandchild);
        await parent.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        await parent.ImportAsync("patch", Encoding.UTF8.GetBytes(CultureCatalog));
        Assert.Equal(200, (await child.SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = Array.Empty<string>() })).Status);

        // Registration: a single-use token from the parent's administrator; a wrong one and a used one are refused.
        var (created, token) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "berlin" });
        Assert.Equal(201, created);
        var tokenText = token.GetProperty("token").GetString()!;
        // A parent elsewhere over plain http would get the credential (and the key of its signatures) in clear: refused.
        var (insecure, why) = await child.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = "http://parent.example.org:8080", token = tokenText });
        Assert.Equal(400, insecure);
        Assert.Contains("https", why.GetProperty("detail").GetString());
        var (wrong, refusal) = await child.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = parent.BaseUrl, token = tokenText.Split('.')[0] + ".not-the-secret" });
        Assert.Equal(502, wrong);
        Assert.Contains("not valid", refusal.GetProperty("detail").GetString());
        // The parent registers the child, but its answer is lost on the way (the connection drops): the same token sent
        // again to the same URL gets the same registration — not "already used", and no second child on the parent.
        var answersLost = 1;
        await using var lossy = await Loopback.StartAsync(async ctx =>
        {
            using var forward = new HttpClient();
            using var request = new HttpRequestMessage(new HttpMethod(ctx.Request.Method), parent.BaseUrl + ctx.Request.Path + ctx.Request.QueryString);
            var body = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(body);
            request.Content = new ByteArrayContent(body.ToArray());
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(ctx.Request.ContentType ?? "application/json");
            if (ctx.Request.Headers.Authorization.Count > 0) request.Headers.TryAddWithoutValidation("Authorization", ctx.Request.Headers.Authorization.ToString());
            using var answered = await forward.SendAsync(request);
            if (Interlocked.Decrement(ref answersLost) >= 0)
            {
                ctx.Abort();
                return;
            }
            ctx.Response.StatusCode = (int)answered.StatusCode;
            foreach (var (name, values) in answered.Headers.Concat(answered.Content.Headers).Where(h => h.Key != "Transfer-Encoding"))
                ctx.Response.Headers[name] = values.ToArray();
            await ctx.Response.Body.WriteAsync(await answered.Content.ReadAsByteArrayAsync());
        });
        var (lost, lostAnswer) = await child.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = lossy.Urls.First(), token = tokenText });
        Assert.True(lost == 502, lostAnswer.ToString());
        Assert.Single((await parent.GetAsync("/api/hierarchy/children")).EnumerateArray());
        // Sent to another URL, the token carries another secret (a server reached by mistake never learns the one kept): refused there.
        var (elsewhereLinked, elsewhereAnswer) = await child.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = parent.BaseUrl, token = tokenText });
        Assert.Equal(502, elsewhereLinked);
        Assert.Contains("already used", elsewhereAnswer.GetProperty("detail").GetString());
        var (linked, link) = await child.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = lossy.Urls.First(), token = tokenText });
        Assert.True(linked == 200, link.ToString());
        Assert.Equal("hq", link.GetProperty("parentName").GetString());
        // A hierarchy is a tree (stop 53: a server linked to itself, and its roll-up grew by itself on every run).
        var (_, own) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "itself" });
        var (self, selfAnswer) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = parent.BaseUrl, token = own.GetProperty("token").GetString() });
        Assert.True(self == 502, selfAnswer.ToString());
        Assert.Contains("a server cannot be its own parent", selfAnswer.GetProperty("detail").GetString());
        var (_, childs) = await child.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "cycle" });
        var (cycle, cycleAnswer) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = child.BaseUrl, token = childs.GetProperty("token").GetString() });
        Assert.True(cycle == 502, cycleAnswer.ToString());
        Assert.Contains("the registering server is this server's parent", cycleAnswer.GetProperty("detail").GetString());
        Assert.Equal(404, (await parent.SendAsync(HttpMethod.Get, "/api/hierarchy/parent")).Status);
        Assert.Empty((await child.GetAsync("/api/hierarchy/children")).EnumerateArray());
        // A linked child replicates by itself: its replication tasks are on their default schedules.
        var tasks = (await child.GetAsync("/api/server-tasks")).EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        foreach (var task in new[] { "catalog-replication", "policy-replication", "hierarchy-rollup" })
            Assert.True(tasks[task].GetProperty("enabled").GetBoolean() && tasks[task].GetProperty("scheduleSet").GetBoolean(), tasks[task].ToString());
        var (reused, reuse) = await grandchild.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = parent.BaseUrl, token = tokenText });
        Assert.Equal(502, reused);
        Assert.Contains("already used", reuse.GetProperty("detail").GetString());
        // The parent reached at another URL (moved to https, a new name): moved only where the parent answers for this child.
        var byName = parent.BaseUrl.Replace("127.0.0.1", "localhost");
        var (moved, movedLink) = await child.SendAsync(HttpMethod.Put, "/api/hierarchy/parent/url", new { url = byName });
        Assert.True(moved == 200, movedLink.ToString());
        Assert.Equal(byName, movedLink.GetProperty("parentUrl").GetString());
        var (elsewhere, notParent) = await child.SendAsync(HttpMethod.Put, "/api/hierarchy/parent/url", new { url = grandchild.BaseUrl });
        Assert.Equal(502, elsewhere);
        Assert.Equal(byName, (await child.GetAsync("/api/hierarchy/parent")).GetProperty("parentUrl").GetString());
        Assert.Equal(400, (await child.SendAsync(HttpMethod.Put, "/api/hierarchy/parent/url", new { url = "http://parent.example.org/" })).Status);
        Assert.Equal(200, (await child.SendAsync(HttpMethod.Put, "/api/hierarchy/parent/url", new { url = parent.BaseUrl })).Status);

        // The child manages de-DE, the parent does not: a language alert, and replication is refused with that reason.
        var berlin = Assert.Single((await parent.GetAsync("/api/hierarchy/children")).EnumerateArray());
        Assert.Equal("alert", berlin.GetProperty("status").GetString());
        Assert.Equal(["de-DE"], berlin.GetProperty("missingCultures").EnumerateArray().Select(c => c.GetString()));
        var alerted = await child.ReplicateAsync();
        Assert.Equal("failed", alerted.GetProperty("status").GetString());
        Assert.Contains("de-DE", alerted.GetProperty("error").GetString());
        Assert.Equal(0, await child.ScalarAsync("select count(*) from patch.mt_doc_bulletin"));
        Assert.Equal(1, await parent.ScalarAsync("select count(*) from patch.mt_events where type = 'language_alert_raised'"));

        // The replication routes take a child's credential only.
        using (var anonymous = new HttpClient { BaseAddress = new Uri(parent.BaseUrl) })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/replication/v1/catalog/events")).StatusCode);
            using var asAdmin = parent.Admin();
            Assert.Equal(HttpStatusCode.Unauthorized, (await asAdmin.GetAsync("/replication/v1/catalog/events")).StatusCode);
        }

        // The parent manages de-DE: the next run replicates, in pages, only the child's cultures, and verifies every bulletin.
        Assert.Equal(200, (await parent.SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = Array.Empty<string>() })).Status);
        var first = await child.ReplicateAsync();
        Assert.True(first.GetProperty("status").GetString() == "completed", first.ToString());
        Assert.True(Count(first, "pages") > 1, first.ToString());
        var bulletins = await parent.ScalarAsync("select count(*) from patch.mt_doc_bulletin");
        Assert.Equal(bulletins, Count(first, "verified"));
        Assert.Equal(0, Count(first, "mismatched"));
        Assert.Equal(await CatalogAsync(parent, "en-US", "de-DE"), await CatalogAsync(child, "en-US", "de-DE"));
        var languagePack = await child.GetAsync("/api/bulletins/KB9900001");
        Assert.Equal(["u-de", "u-en", "u-neutral"], languagePack.GetProperty("updates").EnumerateArray().Select(u => u.GetProperty("updateId").GetString()).Order());
        berlin = Assert.Single((await parent.GetAsync("/api/hierarchy/children")).EnumerateArray());
        Assert.Equal("ok", berlin.GetProperty("status").GetString());
        Assert.Equal(0, berlin.GetProperty("pendingEvents").GetInt64());
        Assert.Equal("completed", berlin.GetProperty("lastRun").GetString());

        // Nothing new: nothing applied.
        var again = await child.ReplicateAsync();
        Assert.Equal("unchanged", again.GetProperty("status").GetString());
        Assert.Equal(0, Count(again, "events"));

        // The parent imports a month while the child is away; the child catches up (Differential) to the same catalog.
        var beforeCatchUp = await LinkAsync(child);
        await parent.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        Assert.True((await parent.GetAsync("/api/hierarchy/children"))[0].GetProperty("pendingEvents").GetInt64() > 0);
        await parent.ImportAsync("kev", SharedData.Bytes(SharedData.Kev));
        var caughtUp = await child.ReplicateAsync();
        Assert.True(Count(caughtUp, "applied") > 0, caughtUp.ToString());
        Assert.Equal(await CatalogAsync(parent, "en-US", "de-DE"), await CatalogAsync(child, "en-US", "de-DE"));

        // A child whose last pages' commits were lost (killed mid-run) reads them again: nothing is appended twice.
        var childEvents = await child.ScalarAsync($"select count(*) from patch.mt_events where type in {CatalogTypes}");
        await MoveCheckpointAsync(child, beforeCatchUp.Checkpoint, beforeCatchUp.LastEventId, beforeCatchUp.LastEventSequence);
        var replayed = await child.ReplicateAsync();
        Assert.True(Count(replayed, "events") > 0);
        Assert.Equal(0, Count(replayed, "applied"));
        Assert.Equal(childEvents, await child.ScalarAsync($"select count(*) from patch.mt_events where type in {CatalogTypes}"));

        // Replicated bulletins are read-only on the child: its own import of the same month changes none of them.
        var local = await child.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        Assert.Equal(0, local.GetProperty("eventsAppended").GetInt32());
        Assert.Contains(local.GetProperty("skipped").EnumerateArray(), s => s.GetProperty("reason").GetString()!.Contains("read-only"));
        Assert.Equal(await parent.ScalarAsync("select count(*) from patch.mt_doc_known_exploited"), await child.ScalarAsync("select count(*) from patch.mt_doc_known_exploited"));
        var localKev = await child.ImportAsync("kev", SharedData.Bytes(SharedData.Kev));
        Assert.Equal(0, localKev.GetProperty("eventsAppended").GetInt32());
        Assert.Contains(localKev.GetProperty("skipped").EnumerateArray(), s => s.GetProperty("item").GetString() == "replicated known-exploited CVEs");

        // The verification catches a tampered row; a Complete run repairs it.
        var tampered = await TextAsync(child, "select min(id) from patch.mt_doc_bulletin");
        await using (var cmd = child.Db.CreateCommand($"update patch.mt_doc_bulletin set data = jsonb_set(data, '{{facts,title}}', '\"tampered\"') where id = '{tampered}'"))
            await cmd.ExecuteNonQueryAsync();
        var caught = await child.ReplicateAsync();
        Assert.Equal(1, Count(caught, "mismatched"));
        Assert.Equal([tampered], (await child.GetAsync("/api/hierarchy/parent")).GetProperty("lastVerification").GetProperty("mismatched").EnumerateArray().Select(m => m.GetString()));
        var complete = await child.ReplicateAsync("&mode=complete");
        Assert.True(Count(complete, "applied") >= 1, complete.ToString());
        Assert.Equal(0, Count(complete, "mismatched"));
        Assert.Equal(await CatalogAsync(parent, "en-US", "de-DE"), await CatalogAsync(child, "en-US", "de-DE"));

        // A parent restored from an older backup no longer holds the child's checkpoint: the child re-bases by itself.
        await MoveCheckpointAsync(child, 1_000_000_000, null, null);
        var rebased = await child.ReplicateAsync();
        Assert.True(Count(rebased, "rebased") == 1, rebased.ToString());
        // Restored, then grown again past the checkpoint: the event the child applied last is not where it was.
        var position = await LinkAsync(child);
        await MoveCheckpointAsync(child, position.Checkpoint, Guid.NewGuid(), 1);
        Assert.Equal(1, Count(await child.ReplicateAsync(), "rebased"));
        Assert.True((await child.GetAsync("/api/hierarchy/parent")).GetProperty("checkpoint").GetInt64() <= await parent.ScalarAsync("select max(seq_id) from patch.mt_events"));
        Assert.Equal(await CatalogAsync(parent, "en-US", "de-DE"), await CatalogAsync(child, "en-US", "de-DE"));

        // A chain: the child is the grandchild's parent, and the grandchild (en-US only) gets the same catalog.
        var (_, childToken) = await child.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "munich" });
        var (grandLinked, grandLink) = await grandchild.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = child.BaseUrl, token = childToken.GetProperty("token").GetString() });
        Assert.True(grandLinked == 200, grandLink.ToString());
        var grand = await grandchild.ReplicateAsync();
        Assert.True(grand.GetProperty("status").GetString() == "completed", grand.ToString());
        Assert.Equal(await CatalogAsync(parent, "en-US"), await CatalogAsync(grandchild, "en-US"));
        Assert.Equal(["u-en", "u-neutral"], (await grandchild.GetAsync("/api/bulletins/KB9900001")).GetProperty("updates").EnumerateArray().Select(u => u.GetProperty("updateId").GetString()).Order());
        // The grandchild comes to manage de-DE too (as its parent does): the events it applied went without de-DE's
        // updates, so the next run is a Complete one and brings them for the bulletins it already had.
        Assert.Equal(200, (await grandchild.SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = Array.Empty<string>() })).Status);
        var widened = await grandchild.ReplicateAsync();
        Assert.True(widened.GetProperty("status").GetString() == "completed", widened.ToString());
        Assert.Equal(["u-de", "u-en", "u-neutral"], (await grandchild.GetAsync("/api/bulletins/KB9900001")).GetProperty("updates").EnumerateArray().Select(u => u.GetProperty("updateId").GetString()).Order());
        Assert.Equal(await CatalogAsync(parent, "en-US", "de-DE"), await CatalogAsync(grandchild, "en-US", "de-DE"));
        Assert.Equal("site-munich", Assert.Single((await child.GetAsync("/api/hierarchy/children")).EnumerateArray()).GetProperty("name").GetString());

        // Roll-up: each server's fleet, sent up after each run; the parent's hierarchy line covers all three.
        await InventoriesAsync(parent, ("HQ-W10", "10_22H2_x64_enterprise_en-us_systeminfo.txt"));
        await InventoriesAsync(child, ("BER-W10", "10_22H2_x64_enterprise_en-us_systeminfo.txt"), ("BER-SRV", "srv_2019_rtm_datacenter_en-us_systeminfo.txt"));
        await InventoriesAsync(grandchild, ("MUC-W11", "11_23H2_x64_enterprise_systeminfo.txt"));
        await grandchild.ReplicateAsync();
        await child.ReplicateAsync();
        var atChild = (await child.GetAsync("/api/hierarchy/rollup")).GetProperty("children")[0];
        Assert.Equal(await HomeAsync(grandchild), Figures(atChild.GetProperty("own")));
        var rollup = await parent.GetAsync("/api/hierarchy/rollup");
        var berlinLine = Assert.Single(rollup.GetProperty("children").EnumerateArray());
        Assert.Equal(await HomeAsync(child), Figures(berlinLine.GetProperty("own")));
        Assert.Equal(await HomeAsync(parent), Figures(rollup.GetProperty("own")));
        Assert.Equal(2, berlinLine.GetProperty("subtree").GetProperty("servers").GetInt32());
        var whole = rollup.GetProperty("hierarchy");
        Assert.Equal(3, whole.GetProperty("servers").GetInt32());
        var homes = new[] { await HomeAsync(parent), await HomeAsync(child), await HomeAsync(grandchild) };
        Assert.Equal(4, whole.GetProperty("computers").GetInt64());
        Assert.Equal(homes.Sum(x => x.Computers), whole.GetProperty("computers").GetInt64());
        Assert.True(whole.GetProperty("vulnerabilities").EnumerateArray().Sum(v => v.GetProperty("missingInstalls").GetInt64()) > 0);
        // A cycle through three servers (stop 54): the top parent asks to become the grandchild's child. The grandchild is
        // in the parent's subtree (the child's roll-up said so), so the grandchild refuses, and nothing is linked.
        var (_, grandToken) = await grandchild.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "loop" });
        var (loop, loopAnswer) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = grandchild.BaseUrl, token = grandToken.GetProperty("token").GetString() });
        Assert.True(loop == 502, loopAnswer.ToString());
        Assert.Contains("this server is below the registering server (in its subtree)", loopAnswer.GetProperty("detail").GetString());
        Assert.Equal(404, (await parent.SendAsync(HttpMethod.Get, "/api/hierarchy/parent")).Status);
        Assert.Empty((await grandchild.GetAsync("/api/hierarchy/children")).EnumerateArray());

        // A disconnected site: the parent's next month reaches the child in a signed bundle, not over the network.
        using (var month = new MemoryStream())
        {
            await using (var gz = SharedData.OpenCvrf("msrc-cvrf/archive/2024-Feb.xml.gz")) await gz.CopyToAsync(month);
            await parent.ImportAsync("cvrf", month.ToArray());
        }
        var checkpoint = (await child.GetAsync("/api/hierarchy/parent")).GetProperty("checkpoint").GetInt64();
        byte[] bundle;
        using (var admin = parent.Admin())
        {
            using var exported = await admin.GetAsync($"/api/hierarchy/children/{berlin.GetProperty("id").GetString()}/bundle?after={checkpoint}&verify=100");
            Assert.True(exported.IsSuccessStatusCode, await exported.Content.ReadAsStringAsync());
            bundle = await exported.Content.ReadAsByteArrayAsync();
        }
        var changed = Recompress(bundle, text => text.Replace("\"Important\"", "\"Low\""));
        var (refusedStatus, refused) = await PostBundleAsync(child, changed);
        Assert.Equal(400, refusedStatus);
        Assert.Contains("signature does not match", refused.GetProperty("detail").GetString());
        var (bombStatus, bomb) = await PostBundleAsync(child, Recompress(bundle, text => text + new string(' ', 64 * 1024 * 1024)));
        Assert.Equal(400, bombStatus);
        Assert.Contains("expands to more than", bomb.GetProperty("detail").GetString());
        // Damaged on the way (stop 53: a line that is no JSON, or a byte that is no UTF-8, was a 500): refused naming it.
        foreach (var (damaged, said) in new[]
        {
            (Recompress(bundle, text => text + "garbage\n"), "not JSON (at byte 1): the bundle was damaged or cut short"),
            (Recompress(bundle, text => text, bytes => [.. bytes[..10], 0xFF, .. bytes[10..]]), "the bundle is not UTF-8"),
            (Recompress(bundle, text => text, bytes => [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(Encoding.UTF8.GetString(bytes))]), "the bundle is not UTF-8"),
        })
        {
            var (damagedStatus, damagedAnswer) = await PostBundleAsync(child, damaged);
            Assert.True(damagedStatus == 400, damagedAnswer.ToString());
            Assert.Contains(said, damagedAnswer.GetProperty("detail").GetString());
        }
        var (cutStatus, cut) = await PostBundleAsync(child, bundle[..(bundle.Length * 2 / 3)]);
        Assert.True(cutStatus == 400, cut.ToString());
        Assert.DoesNotContain("LineNumber", cut.GetProperty("detail").GetString());
        var (wrongServer, wrongServerAnswer) = await PostBundleAsync(grandchild, bundle);
        Assert.Equal(400, wrongServer);
        Assert.Contains("another server", wrongServerAnswer.GetProperty("detail").GetString());
        Assert.NotEqual(await CatalogAsync(parent, "en-US", "de-DE"), await CatalogAsync(child, "en-US", "de-DE"));
        var (imported, result) = await PostBundleAsync(child, bundle);
        Assert.True(imported == 200, result.ToString());
        Assert.True(result.GetProperty("applied").GetInt32() > 0, result.ToString());
        Assert.True(result.GetProperty("verified").GetInt32() > 0, result.ToString());
        Assert.Empty(result.GetProperty("mismatched").EnumerateArray());
        Assert.Equal(await CatalogAsync(parent, "en-US", "de-DE"), await CatalogAsync(child, "en-US", "de-DE"));
        var (_, twice) = await PostBundleAsync(child, bundle);
        Assert.Equal(0, twice.GetProperty("applied").GetInt32());
        Assert.Equal(twice.GetProperty("pages").GetInt32(), twice.GetProperty("alreadyApplied").GetInt32());

        await PoliciesReplicateAsync(parent, child, berlin.GetProperty("id").GetString()!);
    }

    /// <summary>
    /// Policy replication: a staged policy of the parent with a custom target, chosen for the child, arrives read-only
    /// with its package (fetched from the parent and verified) and resolves its target against the child's computers;
    /// disabled on the parent, disabled on the child; a package that does not verify is not used.
    /// </summary>
    private static async Task PoliciesReplicateAsync(HierarchyServer parent, HierarchyServer child, string childId)
    {
        await using var content = await Patch.Api.Tests.Staging.ContentServer.StartAsync();
        object Update(string id, string file, int seed, string culture = "neutral")
        {
            var f = content.Add(file, Patch.Api.Tests.Staging.ContentServer.Bytes(4_000, seed));
            return new { id, product = "w22", culture, fileName = file, downloadUrl = f.Url, sha256 = f.Sha256, size = f.Size, restart = "required" };
        }
        // The parent manages French too; the child does not (en-US, de-DE): the policy's French update stays on the parent.
        Assert.Equal(200, (await parent.SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE", "fr-FR" }, excludedSoftwareReleases = Array.Empty<string>() })).Status);
        var catalog = new
        {
            schemaVersion = "1.0", catalogId = "policies", vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w22", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" } },
            bulletins = new[]
            {
                new { id = "KB9900100", vendor = "ms", title = "Policy fix", severity = "Critical", updates = new[] { Update("p-100", "kb9900100.msu", 1), Update("p-100-fr", "kb9900100-fr.msu", 7, "fr-FR") } },
                new { id = "KB9900101", vendor = "ms", title = "Another fix", severity = "Critical", updates = new[] { Update("p-101", "kb9900101.msu", 2) } },
            },
        };
        await parent.ImportAsync("patch", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(catalog)));
        foreach (var bulletin in new[] { "microsoft:KB9900100", "microsoft:KB9900101" })
        {
            Assert.Equal(202, (await parent.SendAsync(HttpMethod.Post, $"/api/bulletins/{bulletin}/stage")).Status);
            for (var i = 0; i < 200 && !(await parent.GetAsync($"/api/bulletins/{bulletin}/staging")).GetProperty("staged").GetBoolean(); i++) await Task.Delay(100);
        }
        var (targetCreated, target) = await parent.SendAsync(HttpMethod.Post, "/api/targets", new { name = "Berlin computers", include = new[] { new { namePattern = "BER-*" } } });
        Assert.True(targetCreated == 201, target.ToString());
        var options = new { schedule = "AgentDefault", wakeOnLan = false, overrideMaintenanceWindows = false, multicast = false };
        var (created, policy) = await parent.SendAsync(HttpMethod.Post, "/api/policies",
            new { bulletinIds = new[] { "microsoft:KB9900100" }, options, targets = new[] { target.GetProperty("id").GetString() } });
        Assert.True(created == 201, policy.ToString());
        var policyId = policy.GetProperty("id").GetString()!;
        Assert.Equal(200, (await parent.SendAsync(HttpMethod.Put, $"/api/hierarchy/children/{childId}/policies", new { policyIds = new[] { policyId } })).Status);

        await child.ReplicateAsync();
        var (ran, run) = await child.SendAsync(HttpMethod.Post, "/api/server-tasks/policy-replication/run?wait=true");
        Assert.True(ran == 200 && run.GetProperty("status").GetString() == "completed", run.ToString());
        Assert.Equal(1, Count(run, "applied"));
        Assert.Equal(1, Count(run, "packagesDownloaded"));
        Assert.Equal(1, Count(run, "updatesOfUnmanagedCultures"));
        Assert.Equal(2, policy.GetProperty("updates").GetArrayLength());
        var replicated = await child.GetAsync($"/api/policies/{policyId}");
        Assert.Equal("hq", replicated.GetProperty("replicatedFrom").GetString());
        Assert.Equal(["p-100"], replicated.GetProperty("updates").EnumerateArray().Select(u => u.GetProperty("updateId").GetString()));
        Assert.Equal(policy.GetProperty("updates")[0].GetProperty("packageSha256").GetString(), replicated.GetProperty("updates")[0].GetProperty("packageSha256").GetString());
        var staging = (await child.GetAsync("/api/bulletins/microsoft:KB9900100/staging")).GetProperty("updateStatus")[0];
        Assert.Equal("downloaded", staging.GetProperty("state").GetString());
        Assert.Equal("parent:hq", staging.GetProperty("source").GetString());
        // The custom target resolves against the child's own computers (BER-W10, BER-SRV), not the parent's.
        Assert.Equal(2, (await child.GetAsync($"/api/policies/{policyId}/members")).GetProperty("count").GetInt32());
        Assert.Equal(0, (await parent.GetAsync($"/api/policies/{policyId}/members")).GetProperty("count").GetInt32());

        // Read-only on the child.
        var (edit, editAnswer) = await child.SendAsync(HttpMethod.Post, $"/api/policies/{policyId}/disable");
        Assert.Equal(409, edit);
        Assert.Contains("replicated from the parent", editAnswer.GetProperty("detail").GetString());
        // Its custom target too: edited here it would reach other computers until the next run undid it.
        var targetId = target.GetProperty("id").GetString()!;
        var (targetEdit, targetAnswer) = await child.SendAsync(HttpMethod.Put, $"/api/targets/{targetId}", new { name = "All", include = new[] { new { namePattern = "*" } } });
        Assert.Equal(409, targetEdit);
        Assert.Contains("replicated from the parent", targetAnswer.GetProperty("detail").GetString());
        var (targetDelete, deleteAnswer) = await child.SendAsync(HttpMethod.Delete, $"/api/targets/{targetId}");
        Assert.Equal(409, targetDelete);
        Assert.Contains("replicated from the parent", deleteAnswer.GetProperty("detail").GetString());
        Assert.Equal("hq", (await child.GetAsync("/api/targets")).EnumerateArray().Single(t => t.GetProperty("id").GetString() == targetId).GetProperty("replicatedFrom").GetString());
        Assert.Equal(2, (await child.GetAsync($"/api/policies/{policyId}/members")).GetProperty("count").GetInt32());

        // Disabled on the parent, disabled on the child at the next run; nothing changed, nothing applied.
        Assert.Equal(200, (await parent.SendAsync(HttpMethod.Post, $"/api/policies/{policyId}/disable")).Status);
        var (_, second) = await child.SendAsync(HttpMethod.Post, "/api/server-tasks/policy-replication/run?wait=true");
        Assert.Equal(1, Count(second, "applied"));
        Assert.False((await child.GetAsync($"/api/policies/{policyId}")).GetProperty("enabled").GetBoolean());
        var (_, third) = await child.SendAsync(HttpMethod.Post, "/api/server-tasks/policy-replication/run?wait=true");
        Assert.Equal("unchanged", third.GetProperty("status").GetString());

        // A package that does not match its SHA-256 on the way is never used: the policy waits.
        var (_, other) = await parent.SendAsync(HttpMethod.Post, "/api/policies",
            new { bulletinIds = new[] { "microsoft:KB9900101" }, options, targets = new[] { target.GetProperty("id").GetString() } });
        var sha = other.GetProperty("updates")[0].GetProperty("packageSha256").GetString()!;
        var stored = parent.Services.GetRequiredService<Patch.Application.Staging.PackageStore>().PathOf(sha);
        await File.WriteAllBytesAsync(stored, Patch.Api.Tests.Staging.ContentServer.Bytes(4_000, 99));
        Assert.Equal(200, (await parent.SendAsync(HttpMethod.Put, $"/api/hierarchy/children/{childId}/policies",
            new { policyIds = new[] { policyId, other.GetProperty("id").GetString() } })).Status);
        await child.ReplicateAsync();
        var (_, refused) = await child.SendAsync(HttpMethod.Post, "/api/server-tasks/policy-replication/run?wait=true");
        Assert.Equal("failed", refused.GetProperty("status").GetString());
        Assert.Contains("does not verify", refused.GetProperty("error").GetString());
        Assert.False(child.Services.GetRequiredService<Patch.Application.Staging.PackageStore>().Has(sha));
        Assert.Equal(404, (await child.SendAsync(HttpMethod.Get, $"/api/policies/{other.GetProperty("id").GetString()}")).Status);

        // A disconnected child: a new bulletin, its policy and its package travel in one bundle.
        var carriedCatalog = new
        {
            schemaVersion = "1.0", catalogId = "policies-bundle", vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w22", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" } },
            bulletins = new[] { new { id = "KB9900102", vendor = "ms", title = "Carried fix", severity = "Critical", updates = new[] { Update("p-102", "kb9900102.msu", 3) } } },
        };
        await parent.ImportAsync("patch", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(carriedCatalog)));
        Assert.Equal(202, (await parent.SendAsync(HttpMethod.Post, "/api/bulletins/microsoft:KB9900102/stage")).Status);
        for (var i = 0; i < 200 && !(await parent.GetAsync("/api/bulletins/microsoft:KB9900102/staging")).GetProperty("staged").GetBoolean(); i++) await Task.Delay(100);
        var (_, carried) = await parent.SendAsync(HttpMethod.Post, "/api/policies",
            new { bulletinIds = new[] { "microsoft:KB9900102" }, options, targets = new[] { target.GetProperty("id").GetString() } });
        var carriedId = carried.GetProperty("id").GetString()!;
        Assert.Equal(200, (await parent.SendAsync(HttpMethod.Put, $"/api/hierarchy/children/{childId}/policies", new { policyIds = new[] { policyId, carriedId } })).Status);
        var checkpoint = (await child.GetAsync("/api/hierarchy/parent")).GetProperty("checkpoint").GetInt64();
        using var admin = parent.Admin();
        // The parent's copy of the package is corrupt: its signed bundle is refused before any page is applied.
        var carriedPath = parent.Services.GetRequiredService<Patch.Application.Staging.PackageStore>().PathOf(carried.GetProperty("updates")[0].GetProperty("packageSha256").GetString()!);
        var carriedBytes = await File.ReadAllBytesAsync(carriedPath, TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(carriedPath, [.. carriedBytes.Select(b => (byte)~b)], TestContext.Current.CancellationToken);
        using (var corrupt = await admin.GetAsync($"/api/hierarchy/children/{childId}/bundle?after={checkpoint}&policies=true&packages=true&verify=100"))
        {
            var (corruptStatus, corruptAnswer) = await PostBundleAsync(child, await corrupt.Content.ReadAsByteArrayAsync());
            Assert.Equal(400, corruptStatus);
            Assert.Contains("does not verify", corruptAnswer.GetProperty("detail").GetString());
            Assert.Equal(checkpoint, (await child.GetAsync("/api/hierarchy/parent")).GetProperty("checkpoint").GetInt64());
            Assert.Equal(404, (await child.SendAsync(HttpMethod.Get, "/api/bulletins/microsoft:KB9900102")).Status);
        }
        await File.WriteAllBytesAsync(carriedPath, carriedBytes, TestContext.Current.CancellationToken);
        using var exported = await admin.GetAsync($"/api/hierarchy/children/{childId}/bundle?after={checkpoint}&policies=true&packages=true&verify=100");
        Assert.True(exported.IsSuccessStatusCode, await exported.Content.ReadAsStringAsync());
        var (imported, result) = await PostBundleAsync(child, await exported.Content.ReadAsByteArrayAsync());
        Assert.True(imported == 200, result.ToString());
        Assert.Equal(1, result.GetProperty("packages").GetInt32());
        Assert.Equal(1, result.GetProperty("policiesApplied").GetInt32());
        Assert.Equal("hq", (await child.GetAsync($"/api/policies/{carriedId}")).GetProperty("replicatedFrom").GetString());
        Assert.True(child.Services.GetRequiredService<Patch.Application.Staging.PackageStore>().Has(carried.GetProperty("updates")[0].GetProperty("packageSha256").GetString()!));
        // The French update the policy has on the parent was never brought here.
        Assert.False(child.Services.GetRequiredService<Patch.Application.Staging.PackageStore>().Has(
            policy.GetProperty("updates").EnumerateArray().Single(u => u.GetProperty("updateId").GetString() == "p-100-fr").GetProperty("packageSha256").GetString()!));
        // No policy the parent replicates here uses the target any more: it is the child's own again.
        Assert.Equal(200, (await parent.SendAsync(HttpMethod.Put, $"/api/hierarchy/children/{childId}/policies", new { policyIds = Array.Empty<string>() })).Status);
        var (_, released) = await child.SendAsync(HttpMethod.Post, "/api/server-tasks/policy-replication/run?wait=true");
        Assert.Equal(1, Count(released, "targetsReleased"));
        Assert.Equal(200, (await child.SendAsync(HttpMethod.Put, $"/api/targets/{targetId}", new { name = "Berlin, local", include = new[] { new { namePattern = "BER-*" } } })).Status);
        Assert.Equal(200, (await parent.SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = Array.Empty<string>() })).Status);
    }

    private static byte[] Recompress(byte[] gzip, Func<string, string> change, Func<byte[], byte[]>? bytes = null)
    {
        using var input = new System.IO.Compression.GZipStream(new MemoryStream(gzip), System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(input);
        var text = change(reader.ReadToEnd());
        using var output = new MemoryStream();
        using (var gz = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            gz.Write((bytes ?? (b => b))(Encoding.UTF8.GetBytes(text)));
        return output.ToArray();
    }

    private static async Task<(int Status, JsonElement Body)> PostBundleAsync(HierarchyServer server, byte[] bundle)
    {
        using var client = server.Admin();
        using var content = new ByteArrayContent(bundle);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        using var response = await client.PostAsync("/api/hierarchy/bundles", content);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task an_event_type_this_server_does_not_know_is_skipped_and_reported()
    {
        await using var session = h.Grandchild.Store.OpenSession(Actor.ServerTask("test"));
        var tally = new ApplyTally();
        var unknown = new FeedEvent(7, Guid.NewGuid(), "microsoft:KB1", "bulletin_archived", DateTimeOffset.UtcNow, JsonDocument.Parse("{}").RootElement);
        await ReplicationApply.EventsAsync(session, [unknown], ["en-US"], tally, TestContext.Current.CancellationToken);
        Assert.Equal(["bulletin_archived"], tally.Unknown);
        Assert.Equal(1, tally.Skipped);
        Assert.Equal(0, tally.Applied);
    }
}
