using Microsoft.AspNetCore.Http;
using Patch.Domain;

namespace Patch.Application.Common;

public static class Problems
{
    public static IResult From(Rejection rejection) => Results.Problem(
        title: rejection.Title,
        detail: rejection.Detail,
        statusCode: rejection.Kind switch
        {
            RejectionKind.NotFound => StatusCodes.Status404NotFound,
            RejectionKind.Conflict => StatusCodes.Status409Conflict,
            _ => StatusCodes.Status400BadRequest,
        });

    public static IResult Invalid(string title, string detail, IDictionary<string, object?>? extensions = null) =>
        Results.Problem(title: title, detail: detail, statusCode: StatusCodes.Status400BadRequest, extensions: extensions);

    public static IResult NotFound(string what) => Results.Problem(title: "Not found", detail: what, statusCode: StatusCodes.Status404NotFound);

    /// <summary>A subject that did not exist at <paramref name="asOf"/> (or now): "No computer 'PC-1' then (asOf)." — it may exist today.</summary>
    public static IResult NotFound(string what, DateTimeOffset? asOf) => NotFound(asOf is null ? $"{what}." : $"{what} then (asOf).");
}
