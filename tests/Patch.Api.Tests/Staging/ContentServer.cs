using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Patch.Api.Tests.Staging;

/// <summary>A real HTTP server on loopback serving package files, with the faults staging must survive.</summary>
public sealed class ContentServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, byte[]> _files = new();
    private readonly HashSet<string> _dropOnce = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _held = new();

    public int Requests;
    public int RangeRequests;

    private ContentServer(WebApplication app) => _app = app;

    public string BaseUrl => _app.Urls.First();

    public static async Task<ContentServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new ContentServer(app);
        app.MapGet("/files/{name}", (string name, HttpContext http) => server.Serve(name, http));
        await app.StartAsync();
        return server;
    }

    public (string Url, string Sha256, long Size) Add(string name, byte[] content, bool dropHalfwayOnce = false)
    {
        _files[name] = content;
        if (dropHalfwayOnce) _dropOnce.Add(name);
        return ($"{BaseUrl}/files/{name}", Sha(content), content.Length);
    }

    /// <summary>Requests for the file wait (a download in progress) until <see cref="Release"/>.</summary>
    public void Hold(string name) => _held[name] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release(string name)
    {
        if (_held.TryRemove(name, out var held)) held.TrySetResult();
    }

    public static string Sha(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    public static byte[] Bytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task<IResult> Serve(string name, HttpContext http)
    {
        Interlocked.Increment(ref Requests);
        if (http.Request.Headers.Range.Count > 0) Interlocked.Increment(ref RangeRequests);
        if (!_files.TryGetValue(name, out var content)) return Results.NotFound();
        if (_held.TryGetValue(name, out var held)) await held.Task.WaitAsync(http.RequestAborted);
        if (_dropOnce.Remove(name))
        {
            // Announce the whole file, send half, then cut the connection.
            http.Response.ContentLength = content.Length;
            await http.Response.Body.WriteAsync(content.AsMemory(0, content.Length / 2));
            await http.Response.Body.FlushAsync();
            http.Abort();
            return Results.Empty;
        }
        return Results.File(content, "application/octet-stream", enableRangeProcessing: true);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
