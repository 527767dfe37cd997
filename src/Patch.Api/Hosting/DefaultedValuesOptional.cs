using System.Text.Json;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Patch.Api.Hosting;

/// <summary>
/// A record's constructor parameter with a default value (<c>int OffsetDays = 0</c>, <c>bool DistributeNewUpdates = false</c>)
/// may be left out of a request — the server reads the default (<see cref="Application.Common.RequiredValues"/> requires
/// only those without one). Swashbuckle listed every non-nullable value as required: the document now says what the
/// server does.
/// </summary>
public sealed class DefaultedValuesOptional : ISchemaFilter
{
    public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
    {
        if (schema is not OpenApiSchema { Required.Count: > 0 } concrete || context.Type is not { IsClass: true } type) return;
        foreach (var parameter in type.GetConstructors().MaxBy(c => c.GetParameters().Length)?.GetParameters() ?? [])
            if (parameter.HasDefaultValue && parameter.Name is { } name) concrete.Required.Remove(JsonNamingPolicy.CamelCase.ConvertName(name));
    }
}
