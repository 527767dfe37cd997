using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Marten;
using Patch.Api.Hosting;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Operations;
using Patch.Domain.Hierarchy;

namespace Patch.Api.Tests.Hierarchy;

/// <summary>
/// A real child server process on its own embedded PostgreSQL, killed with SIGKILL in the middle of a replication run
/// (pages of ten events, so the run is caught between pages or inside one), started again: the next run resumes at the
/// last whole page, and the child's catalog equals the parent's with not one event twice.
/// </summary>
[Collection("hierarchy")]
public sealed class when_a_child_process_is_killed_mid_replication
{
    [Fact]
    public async Task it_resumes_at_its_last_whole_page_without_an_event_twice()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var parent = new HierarchyServer("hq-crash", "patch_hierarchy_crash_parent");
        await parent.StartAsync();
        await parent.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        await parent.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var (_, issued) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "crash" });

        var dir = Path.Combine(Path.GetTempPath(), $"patch-child-crash-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, FsyncOff = true });
        var child = new ServerProcess(dir, ServerProcess.FreePort(), new Dictionary<string, string>
        {
            ["Patch__Hierarchy__Name"] = "crash-child", ["Patch__Hierarchy__PageSize"] = "10", ["Patch__Hierarchy__VerifyPercent"] = "100",
        });
        try
        {
            await child.StartAsync(ct);
            using var store = new DocumentStore(PatchServices.ConfigureStore(PatchDatabase.Tuned(pg.ConnectionString)));
            await using var db = Npgsql.NpgsqlDataSource.Create(pg.ConnectionString);
            var token = TestUsers.NewToken(store, "crash-admin", Patch.Domain.Users.Roles.Administrator, "tokens only");
            HttpClient Admin() => new() { BaseAddress = new Uri(child.Url), Timeout = TimeSpan.FromSeconds(120), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
            using (var admin = Admin())
            {
                var linked = await admin.PostAsync("api/hierarchy/parent", Json(new { url = parent.BaseUrl, token = issued.GetProperty("token").GetString() }), ct);
                Assert.True(linked.IsSuccessStatusCode, await linked.Content.ReadAsStringAsync(ct));
                Assert.Equal(System.Net.HttpStatusCode.Accepted, (await admin.PostAsync("api/server-tasks/catalog-replication/run", null, ct)).StatusCode);
            }

            // Killed once some pages are in, long before the last.
            long checkpoint = 0;
            for (var i = 0; i < 3000 && checkpoint == 0; i++)
            {
                await Task.Delay(10, ct);
                await using var query = store.QuerySession();
                checkpoint = (await query.LoadAsync<ParentLink>(ParentLink.StreamId, ct))?.Checkpoint ?? 0;
            }
            await child.KillAsync();
            Assert.True(checkpoint > 0, "no page was applied before the kill");
            Assert.NotEqual(await HierarchySql.CatalogAsync(parent.Db, "en-US"), await HierarchySql.CatalogAsync(db, "en-US"));

            await child.StartAsync(ct);
            using (var admin = Admin())
            {
                var again = await admin.PostAsync("api/server-tasks/catalog-replication/run?wait=true", null, ct);
                var run = JsonDocument.Parse(await again.Content.ReadAsStringAsync(ct)).RootElement;
                Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
                Assert.Equal(0, run.GetProperty("counts").GetProperty("mismatched").GetInt32());
            }
            Assert.Equal(await HierarchySql.CatalogAsync(parent.Db, "en-US"), await HierarchySql.CatalogAsync(db, "en-US"));
            // Not one event twice: one "imported" per bulletin, one "added" per update the child holds.
            Assert.Equal(await ScalarAsync(db, "select count(*) from patch.mt_doc_bulletin"), await ScalarAsync(db, "select count(*) from patch.mt_events where type = 'bulletin_imported'"));
            Assert.Equal(await ScalarAsync(db, "select coalesce(sum(jsonb_array_length(data->'updates')), 0) from patch.mt_doc_bulletin"),
                await ScalarAsync(db, "select count(*) from patch.mt_events where type = 'software_update_added'"));
        }
        finally
        {
            await child.KillAsync();
            await pg.StopAsync();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private static async Task<long> ScalarAsync(Npgsql.NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }
}
