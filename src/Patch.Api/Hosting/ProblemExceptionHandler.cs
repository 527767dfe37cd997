using JasperFx;
using JasperFx.Events;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Patch.Api.Hosting;

/// <summary>Every error is a ProblemDetails: lost optimistic-concurrency races are 409, unreadable requests 400.</summary>
public sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        var (status, title, detail) = exception switch
        {
            ConcurrencyException or EventStreamUnexpectedMaxEventIdException or ExistingStreamIdCollisionException or Marten.Exceptions.ExistingStreamIdCollisionException =>
                (StatusCodes.Status409Conflict, "Concurrent change", "Another change to the same data was saved first; read it again and retry."),
            BadHttpRequestException bad => (bad.StatusCode, "Bad request", bad.Message),
            _ => (StatusCodes.Status500InternalServerError, "Unexpected error", "The server failed to handle the request; see the server log."),
        };
        if (status >= 500) logger.LogError(exception, "Unhandled exception for {Path}", http.Request.Path);
        http.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}
