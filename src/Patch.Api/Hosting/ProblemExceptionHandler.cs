using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Patch.Api.Hosting;

/// <summary>
/// Every error is a ProblemDetails without stack traces or internal type names: lost optimistic-concurrency races are
/// 409, unreadable requests 400 with what was wrong and where (the field, the JSON path, line and position).
/// </summary>
public sealed partial class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        // The endpoint committed a change before it failed (a read-back after the save, a second transaction): said so.
        if (exception is not Patch.Application.Common.PartlySavedException && ChangesSaved.In(http))
            exception = new Patch.Application.Common.PartlySavedException("This request's change was saved before the failure, but the request did not "
                + "finish: read the data again before you send it again (sending it again may repeat the change).", exception);
        var (status, title, detail) = Classify(http, exception is Patch.Application.Common.PartlySavedException { InnerException: { } cause } ? cause : exception);
        // Part of the request was stored before the failure: the answer says what was kept (the cause's "nothing was saved" is not true).
        if (exception is Patch.Application.Common.PartlySavedException partly)
            detail = (status switch
            {
                StatusCodes.Status503ServiceUnavailable => DatabaseCause(exception)!.Value.Cause + ".",
                StatusCodes.Status409Conflict or StatusCodes.Status412PreconditionFailed => "Another change to the same data was saved first.",
                >= 500 => "The server failed to handle the rest of the request (see the server log).",
                _ => detail,
            }) + " " + partly.Message;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            logger.LogWarning(exception, "Database unavailable for {Path}", http.Request.Path);
            http.Response.Headers.RetryAfter = "30";
        }
        else if (status >= 500) logger.LogError(exception, "Unhandled exception for {Path}", http.Request.Path);
        http.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }

    private static (int Status, string Title, string Detail) Classify(HttpContext http, Exception exception) =>
        exception switch
        {
            // A change sent with If-Match lost the race between its check and its commit: its precondition failed.
            _ when Patch.Application.Common.StoreConflict.Is(exception) && http.Request.Headers.IfMatch.Count > 0 =>
                (StatusCodes.Status412PreconditionFailed, "Precondition failed", "If-Match: another change was saved first; nothing was done. Read it again and make your change again."),
            _ when Patch.Application.Common.StoreConflict.Is(exception) =>
                (StatusCodes.Status409Conflict, "Concurrent change", "Another change to the same data was saved first; read it again and retry."),
            BadHttpRequestException bad => (bad.StatusCode, "Bad request",
                // The endpoint that failed (the exception handler clears the request's own before it runs).
                Describe(bad, http.Features.Get<IExceptionHandlerFeature>()?.Endpoint?.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>()?.RequestType)),
            _ when DatabaseUnavailable(exception) is { } why => (StatusCodes.Status503ServiceUnavailable, "Database unavailable", why),
            _ => (StatusCodes.Status500InternalServerError, "Unexpected error", "The server failed to handle the request; see the server log."),
        };

    /// <summary>
    /// The database cannot do the work right now — unreachable, restarting, out of disk, memory or connections — as
    /// opposed to a fault of the request or the code: a 503 with Retry-After, and nothing was written (the transaction
    /// did not commit). Null for any other exception.
    /// </summary>
    public static string? DatabaseUnavailable(Exception exception) =>
        DatabaseCause(exception) is { } why ? $"{why.Cause}; nothing was saved. {why.Advice}" : null;

    /// <summary>Why the database cannot do the work (<see cref="DatabaseUnavailable"/>) and when to try again; null for any other exception.</summary>
    private static (string Cause, string Advice)? DatabaseCause(Exception exception)
    {
        const string shortly = "Try again shortly.";
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is Npgsql.PostgresException pg)
                return pg.SqlState switch
                {
                    "53100" => ("The database is out of disk space", "Try again when space is freed."),
                    "53200" => ("The database is out of memory", shortly),
                    "53300" => ("The database has no free connection", shortly),
                    "57P01" or "57P02" or "57P03" => ("The database is restarting", shortly),
                    _ when pg.SqlState.StartsWith("08", StringComparison.Ordinal) => ("The connection to the database failed", shortly),
                    _ => null,
                };
            if (e is Npgsql.NpgsqlException { IsTransient: true } or System.Net.Sockets.SocketException)
                return ("The database cannot be reached", shortly);
        }
        return null;
    }

    /// <summary>What the framework's binding message says, in the API's words (no parameter types, no internal names).</summary>
    public static string Describe(BadHttpRequestException bad, Type? body = null)
    {
        if (bad.InnerException is JsonException json) return Application.Common.JsonProblems.Describe(json, body: body);
        var message = bad.Message;
        if (BindFailure().Match(message) is { Success: true } b)
            return $"{b.Groups["name"].Value}: '{Domain.Users.UserDecisions.Printable(b.Groups["value"].Value)}' is not {Friendly(b.Groups["type"].Value)}.";
        if (Missing().Match(message) is { Success: true } m) return $"{m.Groups["name"].Value}: required.";
        if (message.StartsWith("Implicit body inferred", StringComparison.Ordinal) || message.Contains("no body was provided", StringComparison.Ordinal))
            return "This operation needs a JSON request body.";
        if (message.StartsWith("Expected a supported JSON media type", StringComparison.Ordinal))
            return $"Send the body as application/json (got '{http(message)}').";
        if (message.StartsWith("Failed to read parameter", StringComparison.Ordinal)) return "The request body is not valid JSON for this operation.";
        if (message.Contains("too large", StringComparison.OrdinalIgnoreCase)) return "The request body is too large.";
        return "The request could not be read.";

        static string http(string m) => ContentType().Match(m) is { Success: true } c ? c.Groups[1].Value : "";
    }

    private static string Friendly(string type) => (type.StartsWith("Nullable<", StringComparison.Ordinal) ? type[9..].TrimEnd('>') : type).TrimEnd('?') switch
    {
        "int" or "Int32" or "long" or "Int64" => "a whole number",
        "bool" or "Boolean" => "true or false",
        "DateTimeOffset" or "DateTime" => "a date and time like 2026-11-01T00:00:00Z",
        "DateOnly" => "a date like 2026-11-01",
        "Guid" => "a GUID",
        "double" or "decimal" => "a number",
        _ => "a valid value",
    };

    [GeneratedRegex("""^Failed to bind parameter "(?<type>\S+) (?<name>[^"]+)" from "(?<value>.*)"\.$""", RegexOptions.Singleline)]
    private static partial Regex BindFailure();

    [GeneratedRegex("""^Required parameter "(?<type>\S+) (?<name>[^"]+)" was not provided""")]
    private static partial Regex Missing();

    [GeneratedRegex("but got \"([^\"]*)\"")]
    private static partial Regex ContentType();
}
