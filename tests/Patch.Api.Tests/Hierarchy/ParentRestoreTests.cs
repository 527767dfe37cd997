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
            await parent.StartAsync();
            await child.StartAsync();
            await parent.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
            var (_, issued) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "restore" });
            Assert.Equal(200, (await child.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = parent.BaseUrl, token = issued.GetProperty("token").GetString() })).Status);
            Assert.Equal("completed", (await child.ReplicateAsync()).GetProperty("status").GetString());

            // The backup: the parent's store as it is now, the child registered in it.
            var archive = Path.Combine(dir, "hq.patch.gz");
            await StoreArchive.ExportAsync(parent.Db, archive, withSecrets: true, packageDirectory: null, ct);

            // Life goes on: a month more, replicated.
            await parent.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
            Assert.Equal("completed", (await child.ReplicateAsync()).GetProperty("status").GetString());

            // The parent is lost and restored from the backup, at the same address.
            var port = new Uri(parent.BaseUrl).Port;
            await parent.DisposeAsync();
            var target = await TestDatabase.ConnectionStringAsync("patch_hierarchy_restore_b");
            using (var store = new DocumentStore(PatchServices.ConfigureStore(PatchDatabase.Tuned(target))))
            {
                await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
                await using var db = Npgsql.NpgsqlDataSource.Create(target);
                await StoreImport.ImportAsync(db, store, archive, null, ct);
            }
            restored = new HierarchyServer("hq-restore", "patch_hierarchy_restore_b");
            await restored.StartAsync(port);
            Assert.Equal(parent.BaseUrl, restored.BaseUrl);

            var rebased = await child.ReplicateAsync();
            Assert.True(rebased.GetProperty("status").GetString() is "completed" or "unchanged", rebased.ToString());
            Assert.Equal(1, rebased.GetProperty("counts").GetProperty("rebased").GetInt32());
            Assert.True((await child.GetAsync("/api/hierarchy/parent")).GetProperty("checkpoint").GetInt64() <= await restored.ScalarAsync("select max(seq_id) from patch.mt_events"));

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
}
