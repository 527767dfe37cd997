using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.Agents;
using Patch.Domain.Computers;
using Patch.Projections.Compliance;

namespace Patch.Application.Computers;

/// <summary>One line of a bulk inventory import: a computer (found by name, registered if new) and its inventory.</summary>
public sealed record InventoryImportLine(string? Name, string? Domain, string? OperatingSystem, string? MacAddress, AgentInventory? Inventory);

/// <summary>What a bulk inventory import did: computers registered, inventories changed or confirmed, rows analysed.</summary>
public sealed record InventoryImportResult(int Computers, int ComputersAdded, int InventoriesChanged, int InventoriesConfirmed, long ComplianceRows, double Seconds);

/// <summary>
/// Inventories collected without a Patch agent — another inventory tool's export, an air-gapped site, a fleet being
/// migrated — imported by an operator in bulk (issue 16 §2): NDJSON, one computer per line. The whole file is checked
/// before anything is written (a bad line is a 400 naming it); then it is stored in chunks of a thousand computers, each
/// complete — their events in one transaction, then their analysis — exactly as agents' reports are (ADR 0031). A failure
/// after a chunk committed is answered as such (<see cref="PartlySavedException"/>): sending the file again finishes it.
/// </summary>
public static class ImportInventories
{
    public const int Chunk = 1000;

    /// <summary>As strict as a request body (PatchApp): no member it does not take, no name given twice, no number written as a string.</summary>
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow, AllowDuplicateProperties = false, NumberHandling = JsonNumberHandling.Strict,
        Converters = { new JsonStringEnumConverter(allowIntegerValues: false) }, TypeInfoResolver = RequiredValues.With(null),
    };

    public static void Map(RouteGroupBuilder computers)
    {
        computers.MapPost("inventories", async (HttpContext http, IDocumentStore store, VulnerabilityAnalysis analysis, TimeProvider time, CancellationToken ct) =>
            {
                // The body is checked line by line into a file of its own, then read again to be stored: never all in memory.
                var spool = Path.Combine(Path.GetTempPath(), $"patch-inventories-{Guid.NewGuid():N}.ndjson");
                try
                {
                    var (count, error) = await CheckAsync(http.Request.Body, spool, ct);
                    if (error is not null) return Problems.Invalid("Invalid inventory import", error);
                    if (count == 0) return Problems.Invalid("Invalid inventory import", "the file has no computer: send NDJSON, one {\"name\", \"inventory\"} object per line");
                    return Results.Ok(await StoreAsync(store, analysis, time, Actor.From(http), spool, ct));
                }
                finally
                {
                    File.Delete(spool);
                }
            })
            .ForOperator().ReadsBody().WithName("ImportInventories").WithBodyLimit(l => l.InventoryImportBodyBytes)
            .WithSummary("Import computers' inventories in bulk (NDJSON, one {name, domain?, operatingSystem?, macAddress?, inventory} per line, inventory as an agent reports it): new computers are registered, every inventory is analysed. Checked whole first: a bad line is a 400 naming it and nothing is written. Stored in chunks of 1,000 computers: an error after the first chunk names how many were stored, and sending the same file again is safe.")
            .Produces<InventoryImportResult>().ProducesProblem(400);
    }

    /// <summary>Every line parsed and checked (as the agent route checks an inventory); the normalised lines written to the spool file.</summary>
    private static async Task<(int Count, string? Error)> CheckAsync(Stream body, string spool, CancellationToken ct)
    {
        // UTF-8, or a Unicode form its byte order mark names (Windows PowerShell 5's Out-File writes UTF-16 with one); without a
        // mark, bytes that are not UTF-8 (a Windows code page) are refused, never guessed.
        using var reader = new StreamReader(body, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true);
        await using var output = new StreamWriter(spool, false, new UTF8Encoding(false));
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        var number = 0;
        try
        {
            for (var text = await reader.ReadLineAsync(ct); text is not null; text = await reader.ReadLineAsync(ct))
            {
                number++;
                if (text.Trim().Length == 0) continue;
                // UTF-16 without its byte order mark reads as UTF-8 with a NUL after every ASCII character.
                if (text.Contains('\0'))
                    return (0, $"line {number}: holds NUL characters: a file in UTF-16 without its byte order mark? Send UTF-8 (or UTF-16 with its mark).");
                InventoryImportLine? line;
                try
                {
                    line = JsonSerializer.Deserialize<InventoryImportLine>(text, Json);
                }
                catch (JsonException e)
                {
                    return (0, $"{JsonProblems.Describe(e, $"line {number}")} Each line is a JSON object of name, domain, operatingSystem, macAddress and inventory.");
                }
                if (line?.Inventory is null) return (0, $"line {number}: inventory: required");
                var problems = line.Inventory.Problems();
                if (problems.Count > 0) return (0, $"line {number}: inventory: {string.Join("; ", problems)}");
                var decided = Computer.Decide(null, line.Name ?? "", line.Domain, line.OperatingSystem, line.MacAddress);
                if (decided.Rejection is { } r) return (0, $"line {number}: {r.Detail}");
                if (new[] { line.Domain, line.OperatingSystem }.Any(t => t is not null && RequestText.ControlAt(t) >= 0))
                    return (0, $"line {number}: domain and operatingSystem: no control characters");
                var id = Computer.StreamId(line.Name!);
                if (!names.TryAdd(id, number)) return (0, $"line {number}: computer '{line.Name!.Trim()}' is already on line {names[id]}");
                await output.WriteLineAsync(JsonSerializer.Serialize(line with { Name = line.Name!.Trim(), Inventory = line.Inventory.Normalized() }, Json).AsMemory(), ct);
            }
        }
        catch (DecoderFallbackException)
        {
            return (0, $"line {number + 1}: not UTF-8");
        }
        return (names.Count, null);
    }

    private static async Task<InventoryImportResult> StoreAsync(IDocumentStore store, VulnerabilityAnalysis analysis, TimeProvider time, Actor actor, string spool,
        CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        int stored = 0, computers = 0, added = 0, changed = 0, confirmed = 0;
        long rows = 0;
        var chunk = new List<InventoryImportLine>(Chunk);
        async Task FlushAsync()
        {
            if (chunk.Count == 0) return;
            await using (var session = store.OpenSession(actor))
            {
                var streams = await session.FetchManyForWritingAsync<Computer>(chunk.Select(l => Computer.StreamId(l.Name!)), ct);
                var now = time.GetUtcNow();
                foreach (var line in chunk)
                {
                    var stream = streams[Computer.StreamId(line.Name!)];
                    var current = stream.Aggregate;
                    var details = Computer.Decide(current, line.Name!, line.Domain ?? current?.Domain, line.OperatingSystem ?? current?.OperatingSystem ?? line.Inventory!.OsCaption,
                        line.MacAddress ?? current?.MacAddress);
                    stream.AppendMany(details.Events);
                    if (current is null) added++;
                    var isChange = current?.Inventory is not { } known || !ValueEquality.Same(known, line.Inventory!);
                    stream.AppendOne(isChange ? new InventoryReported(stream.Key!, line.Inventory!, now) : new InventoryConfirmed(stream.Key!, now));
                    if (isChange) changed++; else confirmed++;
                }
                await session.SaveChangesAsync(ct);
            }
            stored += chunk.Count;
            rows += (await analysis.RecomputeComputersAsync(chunk.Select(l => Computer.StreamId(l.Name!)).ToList(), ct)).Rows;
            computers += chunk.Count;
            chunk.Clear();
        }
        try
        {
            using (var reader = new StreamReader(spool, Encoding.UTF8))
            {
                for (var text = await reader.ReadLineAsync(ct); text is not null; text = await reader.ReadLineAsync(ct))
                {
                    chunk.Add(JsonSerializer.Deserialize<InventoryImportLine>(text, Json)!);
                    if (chunk.Count == Chunk) await FlushAsync();
                }
            }
            await FlushAsync();
        }
        catch (Exception e) when (stored > 0 && e is not OperationCanceledException)
        {
            // Earlier chunks are committed: the answer says so, and how to finish (every line is a statement of fact, so sending it again repeats nothing).
            var analysed = stored == computers ? "stored and analysed" : $"stored ({computers:N0} of them analysed)";
            throw new PartlySavedException($"The first {stored:N0} computers of the file were {analysed}; the others were not. Sending the same file again "
                + "is safe: a computer already stored is confirmed, not added twice, and every computer of the file is analysed.", e);
        }
        return new InventoryImportResult(computers, added, changed, confirmed, rows, Math.Round(clock.Elapsed.TotalSeconds, 1));
    }
}
