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

/// <summary>What a CSV import did, and the columns of the file it did not read (named, never dropped in silence).</summary>
public sealed record ComputerCsvImportResult(int Added, int Changed, int Unchanged, IReadOnlyList<string> IgnoredColumns);

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
                using var body = new MemoryStream();
                await http.Request.Body.CopyToAsync(body, ct);
                body.Position = 0;
                var (text, encodingError) = ComputerCsv.Decode(body);
                if (encodingError is not null) return Problems.Invalid("Not UTF-8", encodingError);
                var csv = ComputerCsv.Parse(text!);
                if (csv.Error is not null) return Problems.Invalid("Invalid CSV", csv.Error);
                var result = await RegisterAsync(store, Actor.From(http), csv.Rows, ct, csv: true);
                return result.Rejection is { } r ? Problems.From(r)
                    : Results.Ok(new ComputerCsvImportResult(result.Counts.Added, result.Counts.Changed, result.Counts.Unchanged, csv.IgnoredColumns));
            })
            .ForOperator().ReadsBody().WithName("ImportComputers").WithBodyLimit(l => l.ComputerCsvBodyBytes)
            .WithSummary("Import discovered computers from UTF-8 CSV with a header row: name,domain,os,mac, or a directory export's Name, DNSHostName, OperatingSystem, MACAddress (all or nothing; the columns it does not read are listed in ignoredColumns).")
            .Produces<ComputerCsvImportResult>().ProducesProblem(400);

        ImportInventories.Map(group);
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
