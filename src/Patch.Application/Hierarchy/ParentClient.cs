using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Patch.Domain.Agents;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>The parent answered with a refusal (a problem): its status, title and detail, and its code when it gave one.</summary>
public sealed class ParentRefusedException(int status, string title, string detail, string? code)
    : Exception($"The parent refused ({status} {title}): {detail}")
{
    public int Status { get; } = status;
    public string Title { get; } = title;
    public string Detail { get; } = detail;
    public string? Code { get; } = code;
}

/// <summary>
/// The child's calls to its parent: its own credential on every request, and every answer's signature checked (an
/// answer that does not carry the parent's signature is not trusted, whatever it says).
/// </summary>
public sealed class ParentClient(IHttpClientFactory http, IDataProtectionProvider protection, HierarchyOptions options)
{
    public const string HttpClientName = "parent";

    private IDataProtector Protector => protection.CreateProtector("Patch.Hierarchy.ParentCredential");

    public string Protect(string credential) => Protector.Protect(credential);

    public string Unprotect(string protectedValue) => Protector.Unprotect(protectedValue);

    /// <summary>The key the parent signs this child's answers and bundles with: the SHA-256 of the child's credential's secret.</summary>
    public string KeyOf(ParentLink link) => Secrets.Hash(Secrets.Split(Protector.Unprotect(link.ProtectedCredential))!.Value.Secret);

    /// <summary>Registration: the token is the credential of this one call, and the answer must be signed with it.</summary>
    public Task<ChildRegistered> RegisterAsync(string parentUrl, RegisterChildRequest request, CancellationToken ct) =>
        SendAsync<ChildRegistered>(parentUrl, null, Secrets.Hash(Secrets.Split(request.Token)!.Value.Secret), HttpMethod.Post, "register", request, ct);

    public Task<T> SendAsync<T>(ParentLink link, HttpMethod method, string path, object? body, CancellationToken ct)
    {
        return SendAsync<T>(link.ParentUrl, Protector.Unprotect(link.ProtectedCredential), KeyOf(link), method, path, body, ct);
    }

    /// <summary>Downloads a file of the parent (a package) to <paramref name="path"/>; the caller checks its hash (the file is not signed, its SHA-256 is).</summary>
    public async Task DownloadAsync(ParentLink link, string path, string destination, long maxBytes, CancellationToken ct)
    {
        RefuseInsecure(link.ParentUrl);
        using var client = http.CreateClient(HttpClientName);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{link.ParentUrl.TrimEnd('/')}{ReplicationProtocol.Prefix}/{path}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Protector.Unprotect(link.ProtectedCredential));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode) throw Refusal((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync(ct));
        if (response.Content.Headers.ContentLength > maxBytes) throw new InvalidOperationException($"{path}: larger than {maxBytes} bytes (Patch:Staging:MaxPackageBytes).");
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        await using var file = File.Create(destination);
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer, ct)) > 0)
        {
            if ((total += read) > maxBytes) throw new InvalidOperationException($"{path}: larger than {maxBytes} bytes (Patch:Staging:MaxPackageBytes).");
            await file.WriteAsync(buffer.AsMemory(0, read), ct);
        }
    }

    /// <summary>A link made before https was required (or the setting turned off since) sends nothing in clear.</summary>
    private void RefuseInsecure(string parentUrl)
    {
        if (options.ParentUrlProblem(parentUrl) is { } problem) throw new InvalidOperationException(problem);
    }

    private async Task<T> SendAsync<T>(string parentUrl, string? credential, string keySha256, HttpMethod method, string path, object? body, CancellationToken ct)
    {
        RefuseInsecure(parentUrl);
        using var client = http.CreateClient(HttpClientName);
        using var request = new HttpRequestMessage(method, $"{parentUrl.TrimEnd('/')}{ReplicationProtocol.Prefix}/{path}");
        if (credential is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        if (body is not null) request.Content = new StringContent(JsonSerializer.Serialize(body, ReplicationProtocol.Json), Encoding.UTF8, "application/json");
        using var response = await client.SendAsync(request, ct);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        if (!response.IsSuccessStatusCode) throw Refusal((int)response.StatusCode, bytes);
        var signature = response.Headers.TryGetValues(ReplicationProtocol.SignatureHeader, out var values) ? values.FirstOrDefault() : null;
        if (!ReplicationProtocol.Verify(keySha256, bytes, signature))
            throw new InvalidOperationException($"The answer from {parentUrl} is not signed by the parent (no or a wrong {ReplicationProtocol.SignatureHeader}): not trusted.");
        return JsonSerializer.Deserialize<T>(bytes, ReplicationProtocol.Json)
            ?? throw new InvalidOperationException($"The parent's answer to {path} is empty.");
    }

    private static ParentRefusedException Refusal(int status, byte[] bytes)
    {
        try
        {
            using var problem = JsonDocument.Parse(bytes);
            string? Text(string name) => problem.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            return new ParentRefusedException(status, Text("title") ?? "Refused", Text("detail") ?? "", Text("code"));
        }
        catch (JsonException)
        {
            return new ParentRefusedException(status, "Refused", Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 500)), null);
        }
    }
}
