using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Patch.Api.Tests.Infrastructure;

/// <summary>A small HTTP server on 127.0.0.1 standing in for a vendor, a feed or a webhook receiver.</summary>
public static class Loopback
{
    /// <summary>Serves every request with <paramref name="handler"/>, on <paramref name="port"/> (0: any free port).</summary>
    public static async Task<WebApplication> StartAsync(RequestDelegate handler, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var server = builder.Build();
        server.Run(handler);
        await server.StartAsync(TestContext.Current.CancellationToken);
        return server;
    }
}
