using Marten;
using Patch.Api.Hosting;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Hierarchy;

/// <summary>
/// A parent restored from an older backup (its store archive, imported into a new database, the server started again
/// at the same address): its log no longer holds what the child last applied. The child notices at its next run,
/// re-bases with a Complete run by itself, and follows the restored parent from then on.
/// </summary>
[Collection("hierarchy")]
public sealed class when_the_parent_is_restored_from_an_older_backup
{
    [Fact]
    public async Task the_child_detects_the_gap_and_rebases_with_a_complete_run()
    {
        var ct = TestContext.Current.CancellationToken;
        var parent = new HierarchyServer("hq-restore", "patch_hierarchy_restore_a");
        await using var child = new HierarchyServer("restore-child", "patch_hierarchy_restore_child");
        HierarchyServer? restored = null;
        var dir = Directory.CreateTempSubdirectory("patch-restore-").FullName;
        try
        {
            // The backup: the parent's store as it is once the child replicated it, the child registered in it.
            var archive = await LinkAndBackUpAsync(parent, child, dir, ct);

            // Life goes on: a month more, replicated.
            await parent.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
            Assert.Equal("completed", (await child.ReplicateAsync()).GetProperty("status").GetString());

            // The parent is lost and restored from the backup, at the same address.
            restored = await RestoreAsync(parent, archive, "patch_hierarchy_restore_b", ct);

            var rebased = await child.ReplicateAsync();
            Assert.True(rebased.GetProperty("status").GetString() is "completed" or "unchanged", rebased.ToString());
            Assert.Equal(1, rebased.GetProperty("counts").GetProperty("rebased").GetInt32());
            Assert.True((await child.GetAsync("/api/hierarchy/parent")).GetProperty("checkpoint").GetInt64() <= await restored.ScalarAsync("select max(seq_id) from patch.mt_events"));
            // The restored parent never recorded the child's old checkpoint, past its log's end: its status was refused (409),
            // reported again without it, and the child re-based.
            Assert.Equal(0, await restored.ScalarAsync("""
                select count(*) from patch.mt_events
                where type = 'child_server_reported' and coalesce(data ->> 'checkpoint', data ->> 'Checkpoint')::bigint > seq_id
                """));
            Assert.True(await restored.ScalarAsync("select count(*) from patch.mt_events where type = 'child_server_reported'") > 0);

            // From the new base on, the child follows the restored parent: its next import arrives Differential.
            await restored.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
            var next = await child.ReplicateAsync();
            Assert.Equal(0, next.GetProperty("counts").GetProperty("rebased").GetInt32());
            Assert.True(next.GetProperty("counts").GetProperty("events").GetInt32() > 0, next.ToString());
            Assert.Equal(await HierarchySql.CatalogAsync(restored.Db, "en-US"), await HierarchySql.CatalogAsync(child.Db, "en-US"));
        }
        finally
        {
            if (restored is not null) await restored.DisposeAsync();
            await parent.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// The harder case: the child's checkpoint is the parent's log end after events of other kinds (its last catalog event
    /// is still in the backup), and the restored parent's log grows past that checkpoint again — with a catalog import
    /// before it. The event at the checkpoint's place is another one: the child re-bases rather than never receiving
    /// that import.
    /// </summary>
    [Fact]
    public async Task a_restored_log_grown_past_the_childs_checkpoint_is_noticed_by_the_event_at_its_place()
    {
        var ct = TestContext.Current.CancellationToken;
        var parent = new HierarchyServer("hq-regrown", "patch_hierarchy_regrown_a");
        await using var child = new HierarchyServer("regrown-child", "patch_hierarchy_regrown_child");
        HierarchyServer? restored = null;
        var dir = Directory.CreateTempSubdirectory("patch-regrown-").FullName;
        try
        {
            var archive = await LinkAndBackUpAsync(parent, child, dir, ct);

            // Events of other kinds move the child's checkpoint to the parent's log end (no catalog event since the backup).
            await AppendOtherEventsAsync(parent, 40);
            Assert.Equal("unchanged", (await child.ReplicateAsync()).GetProperty("status").GetString());
            var checkpoint = (await child.GetAsync("/api/hierarchy/parent")).GetProperty("checkpoint").GetInt64();

            // Restored; a small catalog imported, then the log grows past the checkpoint with other events.
            restored = await RestoreAsync(parent, archive, "patch_hierarchy_regrown_b", ct);
            await restored.ImportAsync("patch", System.Text.Encoding.UTF8.GetBytes("""
                {"schemaVersion":"1.0","catalogId":"after-restore","vendors":[{"id":"acme","name":"Acme"}],
                 "products":[{"id":"tool","name":"Acme Tool","vendor":"acme"}],
                 "bulletins":[{"id":"ACME-1","vendor":"acme","title":"Acme Tool fix","severity":"Important","updates":[{"id":"acme-1","product":"tool"}]}]}
                """));
            await AppendOtherEventsAsync(restored, 60);
            Assert.True(await restored.ScalarAsync("select max(seq_id) from patch.mt_events") > checkpoint);

            var run = await child.ReplicateAsync();
            Assert.Equal(1, run.GetProperty("counts").GetProperty("rebased").GetInt32());
            Assert.Equal(await HierarchySql.CatalogAsync(restored.Db, "en-US"), await HierarchySql.CatalogAsync(child.Db, "en-US"));
        }
        finally
        {
            if (restored is not null) await restored.DisposeAsync();
            await parent.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Both servers started, a month imported on the parent, the child linked and replicated; then the parent's backup (its store archive).</summary>
    private static async Task<string> LinkAndBackUpAsync(HierarchyServer parent, HierarchyServer child, string dir, CancellationToken ct)
    {
        await parent.StartAsync();
        await child.StartAsync();
        await parent.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        var (_, issued) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = child.Name });
        Assert.Equal(200, (await child.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = parent.BaseUrl, token = issued.GetProperty("token").GetString() })).Status);
        Assert.Equal("completed", (await child.ReplicateAsync()).GetProperty("status").GetString());
        var archive = Path.Combine(dir, "hq.patch.gz");
        await StoreArchive.ExportAsync(parent.Db, archive, withSecrets: true, packageDirectory: null, ct);
        return archive;
    }

    /// <summary>Events of no catalog kind: registration tokens.</summary>
    private static async Task AppendOtherEventsAsync(HierarchyServer server, int count)
    {
        for (var i = 0; i < count; i++)
            Assert.Equal(201, (await server.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = $"other-{i}" })).Status);
    }

    /// <summary>The parent lost and restored from its backup into a new database, started again at the same address.</summary>
    private static async Task<HierarchyServer> RestoreAsync(HierarchyServer parent, string archive, string database, CancellationToken ct)
    {
        var port = new Uri(parent.BaseUrl).Port;
        var url = parent.BaseUrl;
        await parent.DisposeAsync();
        var target = await TestDatabase.ConnectionStringAsync(database);
        using (var store = new DocumentStore(PatchServices.ConfigureStore(PatchDatabase.Tuned(target))))
        {
            await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
            await using var db = Npgsql.NpgsqlDataSource.Create(target);
            await StoreImport.ImportAsync(db, store, archive, null, ct);
        }
        var restored = new HierarchyServer(parent.Name, database);
        await restored.StartAsync(port);
        Assert.Equal(url, restored.BaseUrl);
        return restored;
    }
}
