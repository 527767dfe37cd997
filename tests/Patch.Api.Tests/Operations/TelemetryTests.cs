using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Alba;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Operations;

/// <summary>OpenTelemetry on a host of its own, with in-memory exporters: an import's spans (HTTP, Patch, Npgsql) and metrics.</summary>
[Collection("app")]
public class when_telemetry_is_on
{
    [Fact]
    public async Task an_import_is_traced_through_http_patch_and_the_database_and_measured()
    {
        var activities = new List<Activity>();
        var metrics = new List<Metric>();
        var connection = await TestDatabase.ConnectionStringAsync();
        await using var host = await AlbaHost.For<Program>(b =>
        {
            b.UseSetting("ConnectionStrings:Patch", connection);
            b.UseSetting("Patch:Telemetry:Enabled", "true");
            b.UseSetting("Patch:Staging:PackageDirectory", Path.Combine(Path.GetTempPath(), $"patch-otel-{Guid.NewGuid():N}"));
            b.ConfigureServices(s =>
            {
                s.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(activities));
                s.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(metrics));
            });
        });

        // A user with a personal access token, appended as the command line would.
        var token = Patch.Application.Security.PatchAuth.TokenPrefix + Patch.Domain.Agents.Secrets.New();
        var store = host.Services.GetRequiredService<IDocumentStore>();
        var userId = User.StreamId($"otel-{Guid.NewGuid():N}"[..20]);
        await using (var session = store.LightweightSession())
        {
            var now = DateTimeOffset.UtcNow;
            session.Events.Append(userId, new UserCreated(userId, userId[5..], userId[5..], Roles.Administrator, Patch.Application.Security.Passwords.Hash("a passphrase long enough"), false, now),
                new PersonalAccessTokenCreated(userId, $"pat-{Guid.NewGuid():N}", "otel", Roles.Administrator, Patch.Domain.Agents.Secrets.Hash(token), now.AddDays(1), now));
            await session.SaveChangesAsync();
        }
        using var client = host.Server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        // The demo KEV list with a CVE of its own: content the shared test database has never seen, so it imports.
        var kev = (await File.ReadAllTextAsync(SharedData.RepoFile("demo/kev-demo.json"))).Replace("\"CVE-2024-21412\"", $"\"CVE-2099-{Random.Shared.Next(10000, 99999)}\"");
        using var body = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(kev));
        body.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        // Listeners are process-wide and other tests import meanwhile: this request carries a trace of its own to find its spans by.
        var trace = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/catalog/imports?format=kev") { Content = body };
        request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        host.Services.GetRequiredService<TracerProvider>().ForceFlush();
        host.Services.GetRequiredService<MeterProvider>().ForceFlush();
        List<Activity> spans;
        lock (activities) spans = activities.Where(a => a.TraceId == trace).ToList();
        var server = Assert.Single(spans, a => a.Kind == ActivityKind.Server && a.GetTagItem("http.route") as string == "/api/catalog/imports");
        var import = Assert.Single(spans, a => a.Source.Name == "Patch" && a.DisplayName == "catalog.import");
        Assert.Equal(server.TraceId, import.TraceId);
        Assert.Equal("kev", import.GetTagItem("patch.catalog.format"));
        Assert.Equal("completed", import.GetTagItem("patch.result"));
        Assert.Contains(spans, a => a.Source.Name == "Npgsql" && a.TraceId == server.TraceId);

        List<string> names;
        lock (metrics) names = metrics.Select(m => m.Name).Distinct().ToList();
        Assert.Contains("patch.catalog.import.duration", names);
        Assert.Contains("patch.catalog.events.appended", names);
        Assert.Contains("http.server.request.duration", names);
    }
}
