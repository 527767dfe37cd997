using System.Net;
using Alba;
using Patch.Api.Hosting;

namespace Patch.Api.Tests.Operations;

/// <summary>PostgreSQL stops and comes back under a running server (a cluster of its own, not the suite's): not ready, 503 with Retry-After, then ready and working again — no restart.</summary>
public class when_postgresql_restarts_under_the_server
{
    [Fact]
    public async Task readiness_and_requests_follow_the_database_and_recover_by_themselves()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Path.Combine(Path.GetTempPath(), $"patch-restart-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        var options = new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_restart", FsyncOff = true };
        var pg = await EmbeddedPostgres.StartAsync(options);
        try
        {
            await using var host = await AlbaHost.For<Program>(b =>
            {
                b.UseSetting("ConnectionStrings:Patch", pg.ConnectionString);
                b.UseSetting("Patch:Staging:PackageDirectory", Path.Combine(dir, "packages"));
            });
            using var client = host.Server.CreateClient();
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready", ct)).StatusCode);

            await pg.StopAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health/ready", ct)).StatusCode);
            var refused = await client.PostAsync("/api/auth/sign-in", new StringContent("""{"userName":"nobody","password":"a passphrase long enough"}""",
                System.Text.Encoding.UTF8, "application/json"), ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);

            pg = await EmbeddedPostgres.StartAsync(options);
            HttpStatusCode ready = default;
            for (var i = 0; i < 50 && ready != HttpStatusCode.OK; i++)
            {
                ready = (await client.GetAsync("/health/ready", ct)).StatusCode;
                if (ready != HttpStatusCode.OK) await Task.Delay(200, ct);
            }
            Assert.Equal(HttpStatusCode.OK, ready);
            var signIn = await client.PostAsync("/api/auth/sign-in", new StringContent("""{"userName":"nobody","password":"a passphrase long enough"}""",
                System.Text.Encoding.UTF8, "application/json"), ct);
            Assert.Equal(HttpStatusCode.Unauthorized, signIn.StatusCode);
        }
        finally
        {
            await pg.StopAsync();
            Directory.Delete(dir, recursive: true);
        }
    }
}
