using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Patch.Domain.Agents;

namespace Patch.Agent;

public sealed record EnrolResult(string ComputerId, string AgentId, string Credential);

public sealed record InventoryResult(string ComputerId, bool Changed, DateTimeOffset At);

/// <summary>
/// One event, with the agent's own id (a retry resends the same id) and time: an update's status (kind null or "status",
/// with its policy), a restart (restartPending / restartDeferred / restarted, <see cref="At"/> = when) or a cycle (cycleStarted / …).
/// </summary>
public sealed record AgentEvent(Guid Id, DateTimeOffset OccurredAt, string? Status, string? Bulletin, string? UpdateId, string? Detail = null,
    string? Kind = null, string? PolicyId = null, DateTimeOffset? LastApplied = null, DateTimeOffset? At = null, string? Trigger = null);

/// <summary>The assignments, or (when the server answered 304 to the ETag sent) null with the same ETag.</summary>
public sealed record AssignmentsResult(Patch.Domain.Cycle.Assignments? Assignments, string? ETag, bool NotModified);

public sealed record EventsResult(int Received, int New, int Duplicates);

public sealed record CredentialRotated(string AgentId, string Credential, DateTimeOffset PreviousValidUntil);

public sealed record UpdateRow(string BulletinId, string Bulletin, string Severity, string UpdateId, string Product, string State);

public sealed record UpdatesResult(string ComputerId, string Name, DateTimeOffset? InventoryAt, int Applicable, int Installed, int Missing, int Superseded, IReadOnlyList<UpdateRow> Updates);

/// <summary>The agent side of /agent/v1. Errors from the server surface with its ProblemDetails text.</summary>
public sealed class AgentClient(HttpClient http) : IAgentServer
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    /// <summary>Enrols; with <paramref name="credential"/> (a secret the agent chose and keeps until it is enrolled) a retry after a lost answer gets the same enrolment.</summary>
    public async Task<EnrolResult> EnrolAsync(string token, string computerName, string? domain, string agentVersion, CancellationToken ct, string? macAddress = null,
        string? credential = null)
    {
        using var response = await http.PostAsJsonAsync("agent/v1/enrol", new { token, computerName, domain, agentVersion, macAddress, credential }, Json, ct);
        return await ReadAsync<EnrolResult>(response, ct);
    }

    public async Task<InventoryResult> SendInventoryAsync(string credential, AgentInventory inventory, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "agent/v1/inventory") { Content = JsonContent.Create(inventory, options: Json) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        using var response = await http.SendAsync(request, ct);
        return await ReadAsync<InventoryResult>(response, ct);
    }

    public async Task<EventsResult> SendEventsAsync(string credential, IReadOnlyList<AgentEvent> events, CancellationToken ct)
    {
        // Serialized whole, sent with its length: the server reads one body of known size instead of chunks.
        using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(new { events }, Json));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        using var request = new HttpRequestMessage(HttpMethod.Post, "agent/v1/events") { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        using var response = await http.SendAsync(request, ct);
        return await ReadAsync<EventsResult>(response, ct);
    }

    /// <summary>A new credential secret for this agent; the old one keeps working for the server's grace period.</summary>
    public async Task<CredentialRotated> RotateCredentialAsync(string credential, string? secret, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "agent/v1/credential");
        if (secret is not null) request.Content = JsonContent.Create(new { credential = secret });
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        using var response = await http.SendAsync(request, ct);
        return await ReadAsync<CredentialRotated>(response, ct);
    }

    public async Task<UpdatesResult> UpdatesAsync(string credential, string? state, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "agent/v1/updates" + (state is null ? "" : $"?state={Uri.EscapeDataString(state)}"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        using var response = await http.SendAsync(request, ct);
        return await ReadAsync<UpdatesResult>(response, ct);
    }

    public async Task<AssignmentsResult> AssignmentsAsync(string credential, string? etag, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "agent/v1/assignments");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        if (etag is not null) request.Headers.TryAddWithoutValidation("If-None-Match", etag);
        using var response = await http.SendAsync(request, ct);
        var tag = response.Headers.ETag?.ToString();
        if (response.StatusCode == System.Net.HttpStatusCode.NotModified) return new AssignmentsResult(null, tag ?? etag, true);
        return new AssignmentsResult(await ReadAsync<Patch.Domain.Cycle.Assignments>(response, ct), tag, false);
    }

    /// <summary>Downloads a package to <paramref name="destination"/>, resuming a partial file with Range, reporting bytes as they arrive.</summary>
    public async Task DownloadAsync(string credential, string url, string destination, IProgress<long>? progress, CancellationToken ct)
    {
        var partial = destination + ".partial";
        var have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url.TrimStart('/'));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.StatusCode == System.Net.HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
        {
            // The partial file is already whole (the agent stopped before renaming it) or longer than the package: start over.
            File.Delete(partial);
            await DownloadAsync(credential, url, destination, progress, ct);
            return;
        }
        if (!response.IsSuccessStatusCode) await ReadAsync<object>(response, ct);
        var append = have > 0 && response.StatusCode == System.Net.HttpStatusCode.PartialContent;
        await using (var file = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write))
        await using (var body = await response.Content.ReadAsStreamAsync(ct))
        {
            var buffer = new byte[81920];
            long total = append ? have : 0;
            int read;
            while ((read = await body.ReadAsync(buffer, ct)) > 0)
            {
                await file.WriteAsync(buffer.AsMemory(0, read), ct);
                total += read;
                progress?.Report(total);
            }
        }
        File.Move(partial, destination, overwrite: true);
    }

    private (DateTimeOffset Date, long Stamp)? _serverClock;

    /// <summary>
    /// The server's time now, from the Date header of its last answer plus the time elapsed since on a monotonic clock
    /// (so a jump of the computer's clock does not move it); null before the server has answered. The header counts whole
    /// seconds: a second is added, so this is never behind the server (and at most a second ahead, which it accepts).
    /// </summary>
    public DateTimeOffset? ServerNow => _serverClock is { } c ? c.Date.AddSeconds(1) + System.Diagnostics.Stopwatch.GetElapsedTime(c.Stamp) : null;

    private async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.Headers.Date is { } date) _serverClock = (date, System.Diagnostics.Stopwatch.GetTimestamp());
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            var detail = body;
            try
            {
                using var problem = JsonDocument.Parse(body);
                detail = $"{problem.RootElement.GetProperty("title").GetString()}: {(problem.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : "")}";
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
            }
            throw new AgentException($"The server answered {(int)response.StatusCode}: {detail}", (int)response.StatusCode);
        }
        try
        {
            return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            // A proxy's or captive portal's page answered with 200, or another web server at that address: not Patch's
            // answer, so taken as a gateway's failure (the cycle goes on with its last assignments, events stay queued).
            throw new AgentException($"The server's answer is not Patch's ({response.Content.Headers.ContentType?.MediaType ?? "no content type"}, {(int)response.StatusCode}): "
                + $"is {response.RequestMessage?.RequestUri?.GetLeftPart(UriPartial.Authority)} Patch's address, or is a proxy answering for it?", 502);
        }
    }
}

public sealed class AgentException(string message, int? statusCode = null) : Exception(message)
{
    /// <summary>The server's HTTP status when the server answered with an error; null for the agent's own refusals.</summary>
    public int? StatusCode { get; } = statusCode;
}

/// <summary>The computer's MAC address for Wake-on-LAN: the first adapter that is up, not loopback or a tunnel, with a hardware address.</summary>
public static class MacAddress
{
    public static string? Primary()
    {
        try
        {
            var nic = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up
                            && n.NetworkInterfaceType is not (System.Net.NetworkInformation.NetworkInterfaceType.Loopback or System.Net.NetworkInformation.NetworkInterfaceType.Tunnel))
                .Select(n => n.GetPhysicalAddress().GetAddressBytes())
                .FirstOrDefault(b => b.Length == 6 && b.Any(x => x != 0));
            return nic is null ? null : string.Join(":", nic.Select(b => b.ToString("X2")));
        }
        catch (System.Net.NetworkInformation.NetworkInformationException)
        {
            return null;
        }
    }
}
