using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Projections.Catalog;

namespace Patch.Application.Bulletins;

public static class BulletinEndpoints
{
    public static void MapBulletins(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/bulletins").WithTags("Patch Remediation Center");

        group.MapGet("", async ([AsParameters] BulletinListParameters _, HttpContext http, ListBulletins list, CancellationToken ct) =>
            {
                var csv = ReadSql.CsvRequested(http);
                var (query, error) = BulletinQuery.Parse(http.Request.Query, csv);
                if (query is null) return Problems.Invalid("Invalid query", error!);
                // JSON is always paged (50 rows by default); "Save As" CSV exports every matching row unless a page is asked for.
                BulletinPage page;
                try
                {
                    page = await list.ExecuteAsync(csv ? query : query with { Paged = true }, ct, AsOf.Of(http));
                }
                catch (BulletinQueryRefused refused)
                {
                    return Problems.Invalid("Invalid query", refused.Message);
                }
                return csv ? Results.Text(ListBulletins.ToCsv(page.Items), "text/csv; charset=utf-8") : Results.Ok(page);
            })
            .ForAuditor().WithAsOf().WithName("ListBulletins")
            .WithSummary("The Patch Remediation Center: software bulletins with filters, sort, paging, group counts and CSV (\"Save As\").")
            .Produces<BulletinPage>(StatusCodes.Status200OK, "application/json", "text/csv").ProducesProblem(StatusCodes.Status400BadRequest);

        group.MapGet("{id}", async (string id, HttpContext http, GetBulletin get, CancellationToken ct) =>
                await get.ExecuteAsync(id, ct, AsOf.Of(http)) is { } details ? Results.Ok(details) : Problems.NotFound($"No bulletin '{id}'", AsOf.Of(http)))
            .ForAuditor().WithAsOf().WithName("GetBulletin")
            .WithSummary("One bulletin with its software updates, CVEs (known-exploited marked) and supersedence both ways, now or as it stood at asOf. Id: 'microsoft:KB5034441' or 'KB5034441'.")
            .Produces<BulletinDetails>().ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("{id}/history", async (string id, IQuerySession session, CancellationToken ct) =>
            {
                var streamId = await GetBulletin.ResolveIdAsync(session, id, ct);
                var history = streamId is null ? [] : await StreamHistory.ReadAsync(session, streamId, ct);
                return history.Count == 0 ? Problems.NotFound($"No bulletin '{id}'.") : Results.Ok(history);
            })
            .ForAuditor().WithName("GetBulletinHistory")
            .WithSummary("Every event of the bulletin's stream with its time, actor, actor kind, correlation and causation ids.")
            .Produces<IReadOnlyList<HistoryEntry>>().ProducesProblem(StatusCodes.Status404NotFound);
    }
}
