using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Hierarchy;

/// <summary>One Patch server on real Kestrel (a loopback port) with a database of its own: a member of a test hierarchy.</summary>
public sealed class HierarchyServer(string name, string database) : WebApplicationFactory<Program>
{
    private string _connectionString = "";
    private string _token = "";

    public string Name { get; } = name;
    public string BaseUrl { get; private set; } = "";
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"patch-{name}-{Guid.NewGuid():N}");
    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();
    public Npgsql.NpgsqlDataSource Db => Services.GetRequiredService<Npgsql.NpgsqlDataSource>();

    /// <summary>Starts the server on <paramref name="port"/> (0: a free one; a given one: a server restored where another stood).</summary>
    public async Task StartAsync(int port = 0)
    {
        _connectionString = await TestDatabase.ConnectionStringAsync(database);
        UseKestrel(port);
        StartServer();
        BaseUrl = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("[::]", "127.0.0.1").TrimEnd('/');
        _token = TestUsers.NewToken(Store, "admin", Roles.Administrator, Patch.Application.Security.Passwords.Hash(AppFixture.TestPassword));
    }

    protected override void ConfigureWebHost(IWebHostBuilder b)
    {
        b.UseSetting("ConnectionStrings:Patch", _connectionString);
        b.UseSetting("Patch:DataDirectory", DataDirectory);
        b.UseSetting("Patch:Staging:PackageDirectory", Path.Combine(DataDirectory, "packages"));
        b.UseSetting("Patch:Hierarchy:Name", Name);
        // Small pages, so a run takes several; every replicated bulletin verified.
        b.UseSetting("Patch:Hierarchy:PageSize", "40");
        b.UseSetting("Patch:Hierarchy:VerifyPercent", "100");
        b.UseSetting("Patch:Limits:UserRequestsPerMinute", "0");
        b.UseSetting("Patch:Limits:AgentRequestsPerMinute", "0");
        b.UseSetting("Patch:Limits:AnonymousRequestsPerMinute", "0");
        b.UseSetting("Patch:WakeOnLan:CheckSeconds", "86400");
        b.UseSetting("urls", "http://127.0.0.1:0");
    }

    /// <summary>A client of the server's own address, as its administrator.</summary>
    public HttpClient Admin()
    {
        var client = new HttpClient { BaseAddress = new Uri(BaseUrl) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        return client;
    }

    public async Task<(int Status, JsonElement Body)> SendAsync(HttpMethod method, string url, object? body = null)
    {
        using var client = Admin();
        using var request = new HttpRequestMessage(method, url);
        if (body is not null) request.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public async Task<JsonElement> GetAsync(string url)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, url);
        Assert.True(status == 200, $"{Name}: GET {url} answered {status}: {body}");
        return body;
    }

    public async Task<JsonElement> ImportAsync(string format, byte[] content)
    {
        using var client = Admin();
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue(format is "cvrf" or "mssecure" ? "application/xml" : "application/json");
        using var response = await client.PostAsync($"/api/catalog/imports?format={format}", body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{Name}: import answered {(int)response.StatusCode}: {json}");
        return json;
    }

    /// <summary>Runs catalog replication and waits for its end; the run as the server recorded it.</summary>
    public async Task<JsonElement> ReplicateAsync(string query = "")
    {
        var (status, run) = await SendAsync(HttpMethod.Post, $"/api/server-tasks/catalog-replication/run?wait=true{query}");
        Assert.True(status == 200, $"{Name}: replication answered {status}: {run}");
        return run;
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var cmd = Db.CreateCommand(sql);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (Directory.Exists(DataDirectory)) Directory.Delete(DataDirectory, recursive: true);
    }
}

public static class HierarchySql
{
    /// <summary>Every bulletin's facts and the ids of its updates of these cultures (and neutral ones), as one JSON text: equal on two servers when their catalogs agree.</summary>
    public static async Task<string> CatalogAsync(Npgsql.NpgsqlDataSource db, params string[] cultures)
    {
        await using var cmd = db.CreateCommand($$"""
            select coalesce(jsonb_agg(jsonb_build_object('id', id, 'facts', data->'facts', 'updates',
              (select coalesce(jsonb_agg(u->>'updateId' order by u->>'updateId'), '[]') from jsonb_array_elements(data->'updates') u
               where lower(u->>'culture') in ('neutral', {{string.Join(", ", cultures.Select(c => $"'{c.ToLowerInvariant()}'"))}}))) order by id), '[]')::text
            from patch.mt_doc_bulletin
            """);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }
}

/// <summary>Three servers, three databases: a parent, its child and the child's own child.</summary>
public sealed class HierarchyFixture : IAsyncLifetime
{
    public HierarchyServer Parent { get; } = new("hq", "patch_hierarchy_parent");
    public HierarchyServer Child { get; } = new("site-berlin", "patch_hierarchy_child");
    public HierarchyServer Grandchild { get; } = new("site-munich", "patch_hierarchy_grandchild");

    public async ValueTask InitializeAsync()
    {
        await Parent.StartAsync();
        await Child.StartAsync();
        await Grandchild.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Grandchild.DisposeAsync();
        await Child.DisposeAsync();
        await Parent.DisposeAsync();
    }
}
