using System.Text;
using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.Computers;

namespace Patch.Application.Computers;

public sealed record RegisterComputer(string? Name, string? Domain, string? OperatingSystem, string? MacAddress);

public sealed record ComputerImportResult(int Added, int Changed, int Unchanged);

/// <summary>A computer as administrators see it: never its agent's credential hash.</summary>
public sealed record ComputerView(string Id, string Name, string? Domain, string? OperatingSystem, string? MacAddress, bool AgentInstalled, string? AgentVersion,
    string? OsVersion, IReadOnlyList<string> Products, DateTimeOffset? EnrolledAt, DateTimeOffset? LastInventoryAt, int InstalledKbs)
{
    public static ComputerView Of(Computer c) => new(c.Id, c.Name, c.Domain, c.OperatingSystem, c.MacAddress, c.AgentInstalled, c.AgentVersion,
        c.Inventory?.OsVersion, c.Products, c.EnrolledAt, c.LastInventoryAt, c.Inventory?.InstalledKbs.Count ?? 0);
}

/// <summary>Computers known before they have an agent ("discovered"): registered one by one or imported from CSV.</summary>
public static class ComputerEndpoints
{
    public static void MapComputers(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/computers").WithTags("Computers");

        group.MapGet("", async (string? q, string? os, string? agentVersion, int? notReportingDays, HttpContext http, Npgsql.NpgsqlDataSource db, TimeProvider time,
                CancellationToken ct) =>
                Compliance.ReportQuery.Answer(await ComputerQueries.ListAsync(db, time, http.Request.Query, ReadSql.CsvRequested(http), q, os, agentVersion, notReportingDays, ct, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Keyset(ComputerQueries.Sort.Keys, "name")).WithName("ListComputers")
            .WithSummary("Known computers, paged: q matches the name, os the operating system, agentVersion the agent's version; notReportingDays keeps the agents silent that long. sort: name, operatingSystem (its lower case), agentVersion, lastInventoryAt or enrolledAt, - before it for descending; computers without the value come last. Each page gives the next one's cursor, in any sort (next: pass it as after=). CSV with format=csv.")
            .Produces<Compliance.ReportPage<ComputerView>>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapPost("", async (RegisterComputer body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                var result = await RegisterAsync(store, Actor.From(http), [body], ct, csv: false);
                return result.Rejection is { } r ? Problems.From(r) : Results.Ok(result.Counts);
            })
            .ForOperator().WithName("RegisterComputer").WithSummary("Register (or update) a discovered computer: name, domain, operating system, MAC address.")
            .Produces<ComputerImportResult>().ProducesProblem(400);

        group.MapPost("import", async (HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
                var text = await reader.ReadToEndAsync(ct);
                var (rows, error) = ParseCsv(text);
                if (error is not null) return Problems.Invalid("Invalid CSV", error);
                var result = await RegisterAsync(store, Actor.From(http), rows, ct, csv: true);
                return result.Rejection is { } r ? Problems.From(r) : Results.Ok(result.Counts);
            })
            .ForOperator().WithName("ImportComputers").WithBodyLimit(l => l.ComputerCsvBodyBytes).WithSummary("Import discovered computers from CSV with a header row: name,domain,os,mac (all or nothing).")
            .Produces<ComputerImportResult>().ProducesProblem(400);

        ImportInventories.Map(group);
    }

    /// <summary>
    /// RFC 4180 CSV (quoted cells may hold commas, quotes and line breaks) with a header naming the columns; a cell with a
    /// control character other than tab, LF or CR is refused naming its row and column.
    /// </summary>
    public static (IReadOnlyList<RegisterComputer> Rows, string? Error) ParseCsv(string text)
    {
        if (text.Trim().Length == 0) return ([], "the file is empty");
        // Blank lines before the header are no header.
        text = text.TrimStart('\r', '\n', ' ', '\t', '\uFEFF');
        try
        {
            using var csv = Sylvan.Data.Csv.CsvDataReader.Create(new StringReader(text), new Sylvan.Data.Csv.CsvDataReaderOptions { Delimiter = ',' });
            var header = Enumerable.Range(0, csv.FieldCount).Select(i => csv.GetName(i).Trim().ToLowerInvariant()).ToList();
            var name = header.IndexOf("name");
            if (name < 0) return ([], "line 1: the header needs a 'name' column (and optionally domain, os, mac)");
            if (header.Select((h, i) => (h, i)).FirstOrDefault(c => RequestText.ControlAt(c.h) >= 0) is { h: not null } bad)
                return ([], $"line 1: a control character in the header's column {bad.i + 1}");
            int Col(string c) => header.IndexOf(c);
            var rows = new List<RegisterComputer>();
            for (var row = 1; csv.Read(); row++)
            {
                if (Enumerable.Range(0, csv.RowFieldCount).All(i => csv.GetString(i).Trim().Length == 0)) continue;
                if (csv.RowFieldCount != header.Count) return ([], $"row {row}: {csv.RowFieldCount} cells where the header has {header.Count}");
                var cells = Enumerable.Range(0, header.Count).Select(i => csv.GetString(i).Trim()).ToArray();
                for (var c = 0; c < cells.Length; c++)
                    if (RequestText.ControlAt(cells[c]) is var at and >= 0)
                        return ([], $"row {row}: {header[c]}: a control character (U+{(int)cells[c][at]:X4}) in the cell");
                string? Cell(int c) => c >= 0 && cells[c].Length > 0 ? cells[c] : null;
                rows.Add(new RegisterComputer(cells[name], Cell(Col("domain")), Cell(Col("os")), Cell(Col("mac"))));
            }
            return (rows, null);
        }
        catch (Sylvan.Data.Csv.CsvFormatException e)
        {
            return ([], $"row {e.RowNumber}: not valid CSV ({e.Message})");
        }
    }

    private static async Task<(ComputerImportResult Counts, Rejection? Rejection)> RegisterAsync(IDocumentStore store, Actor actor, IReadOnlyList<RegisterComputer> rows, CancellationToken ct, bool csv)
    {
        await using var session = store.OpenSession(actor);
        int added = 0, changed = 0, unchanged = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var id = Computer.StreamId(row.Name ?? "");
            var stream = await session.Events.FetchForWriting<Computer>(id, ct);
            var outcome = Computer.Decide(stream.Aggregate, row.Name ?? "", row.Domain, row.OperatingSystem, row.MacAddress);
            if (outcome.Rejection is { } r) return (new(0, 0, 0), r with { Detail = csv ? $"row {i + 1}: {r.Detail}" : r.Detail });
            if (outcome.Events.Count == 0) unchanged++;
            else if (stream.Aggregate is null) added++;
            else changed++;
            stream.AppendMany(outcome.Events);
        }
        await session.SaveChangesAsync(ct);
        return (new ComputerImportResult(added, changed, unchanged), null);
    }
}
