using System.Net;
using System.Net.Http.Headers;

namespace Patch.Application.Catalog;

/// <summary>"Only download if modified": a GET of a catalog file (http, https or file URL) with the ETag / Last-Modified of the last copy, within a size limit.</summary>
public static class CatalogFetch
{
    /// <summary>Returns null content when the server answers 304 Not Modified.</summary>
    public static async Task<(byte[]? Content, string? ETag, string? LastModified)> GetAsync(HttpClient client, string url, string? etag, string? lastModified,
        long maxBytes, string? accept, CancellationToken ct)
    {
        var uri = new Uri(url);
        if (uri.IsFile)
        {
            var info = new FileInfo(uri.LocalPath);
            if (info.Length > maxBytes) throw new InvalidOperationException($"{url} has {info.Length} bytes; the limit (Patch:Import:MaxBytes) is {maxBytes}");
            return (await File.ReadAllBytesAsync(info.FullName, ct), null, null);
        }
        if (uri.Scheme is not ("http" or "https")) throw new InvalidOperationException($"unsupported scheme '{uri.Scheme}' (http, https or file)");

        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (accept is not null) request.Headers.Accept.ParseAdd(accept);
        if (etag is not null && EntityTagHeaderValue.TryParse(etag, out var tag)) request.Headers.IfNoneMatch.Add(tag);
        if (lastModified is not null && DateTimeOffset.TryParse(lastModified, out var since)) request.Headers.IfModifiedSince = since;
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.StatusCode == HttpStatusCode.NotModified) return (null, etag, lastModified);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
        if (response.Content.Headers.ContentLength > maxBytes)
            throw new InvalidOperationException($"{url} announces {response.Content.Headers.ContentLength} bytes; the limit (Patch:Import:MaxBytes) is {maxBytes}");
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > maxBytes) throw new InvalidOperationException($"{url} is larger than the limit (Patch:Import:MaxBytes) of {maxBytes} bytes");
        }
        return (buffer.ToArray(), response.Headers.ETag?.ToString(), response.Content.Headers.LastModified?.ToString("R"));
    }

    /// <summary>A failure of the fetch itself (network, status, size, a timeout) — not the caller's own cancellation.</summary>
    public static bool IsFetchFailure(Exception e, CancellationToken ct) =>
        e is HttpRequestException or IOException or UriFormatException or UnauthorizedAccessException or InvalidOperationException
        || (e is OperationCanceledException && !ct.IsCancellationRequested);
}
