using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.ServerTasks;
using Wolverine;

namespace Patch.Application.Catalog;

/// <summary>The configured sources; the task that fetches them (its schedule: GET /api/server-tasks).</summary>
public sealed record CatalogScheduleView(IReadOnlyList<CatalogSource> Sources, string Task);

public static class ImportCatalogEndpoint
{
    public static void MapCatalogImport(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/catalog/imports", async (HttpContext http, IMessageBus bus, CatalogImportOptions options, Marten.IDocumentStore store, Notifications.Notifier notifier,
                TimeProvider time, CancellationToken ct) =>
            {
                var format = http.Request.Query["format"].ToString();
                if (string.IsNullOrWhiteSpace(format))
                    return Problems.Invalid("Missing format", $"Query parameter 'format' is required: one of {string.Join(", ", CatalogFormats.All)}.");
                byte[]? content;
                string? fileName;
                try
                {
                    (content, fileName) = await UploadedFile.ReadAsync(http, options.MaxBytes, ct);
                }
                catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
                {
                    return await EnvelopeRefusedAsync("Unreadable upload", $"The upload could not be read: {UploadedFile.Describe(e)}");
                }
                if (content is null) return await EnvelopeRefusedAsync("Missing file", "Send the catalog file as the request body, or as the multipart form field 'file'.");
                var result = await bus.InvokeAsync<CatalogImportResult>(
                    new ImportCatalog(content, format, "on demand", Actor.From(http), fileName), ct, TimeSpan.FromMinutes(30));
                if (result.Status != ServerTaskStatus.Failed) return Results.Ok(result);
                return Problems.Invalid(result.ErrorTitle ?? "Import failed", result.Error ?? "",
                    new Dictionary<string, object?> { ["result"] = "failed", ["runId"] = result.RunId, ["place"] = result.Place, ["format"] = result.Format });

                // An upload that brings no file to read is an import that failed like any other: a run records it.
                async Task<IResult> EnvelopeRefusedAsync(string title, string detail)
                {
                    var run = await NotImported.RecordAsync(store, notifier, time, Actor.From(http), format.Trim().ToLowerInvariant(), "on demand", [], null, $"{title}: {detail}", null, ct);
                    return Problems.Invalid(title, detail, new Dictionary<string, object?> { ["result"] = "failed", ["runId"] = run.RunId, ["place"] = "body" });
                }
            })
            .WithTags("Catalog import")
            .ForOperator().WithName("ImportCatalog").ChecksOwnBody().WithBodyLimit(_ => null)
            .WithQuery(new QueryParameter("format", "string", "The catalog's format: cvrf, mssecure, patch or kev.", CatalogFormats.All, Required: true))
            .WithSummary("Import a vendor catalog file (C1): format=cvrf (MSRC CVRF 1.1, XML or the API's JSON), mssecure (MBSA mssecure.xml), patch (Patch catalog JSON 1.0 or 1.1) or kev (CISA KEV JSON, or its CSV twin).")
            .WithDescription("The file is the request body, or the multipart form field 'file'. Idempotent: the same content again appends nothing and answers status 'unchanged'. " +
                             "Bad input (malformed, wrong root, unknown schema version, missing fields, duplicate ids, DTDs, control characters, too large) answers 400 naming the place, " +
                             "imports nothing and is recorded as a failed run; a format Patch does not read is a 400 'Invalid query parameter' before any run.")
            .Produces<CatalogImportResult>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict)
            .DisableAntiforgery();

        app.MapGet("/api/catalog/sources", (CatalogScheduleOptions options) => Results.Ok(new CatalogScheduleView(options.Sources, ServerTasks.CatalogSourcesTask.TaskName)))
            .WithTags("Catalog import").ForAuditor().WithName("ListCatalogSources")
            .WithSummary("The catalog sources (Patch:CatalogImport:Sources) the catalog-sources server task fetches; its schedule and runs are under /api/server-tasks.")
            .Produces<CatalogScheduleView>();
    }
}
