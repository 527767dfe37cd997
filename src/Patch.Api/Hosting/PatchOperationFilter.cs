using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Patch.Api.Hosting;

/// <summary>
/// What endpoint metadata cannot say: the catalog import body (raw file or multipart field 'file': declaring it
/// with Accepts() would make ASP.NET refuse other content types with 415) and the CSV form of the bulletin list.
/// </summary>
public sealed class PatchOperationFilter : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        var path = "/" + (context.ApiDescription.RelativePath ?? "");
        if (path.StartsWith("/agent/v1/", StringComparison.Ordinal) && !path.StartsWith("/agent/v1/enrol", StringComparison.Ordinal))
        {
            operation.Security ??= [];
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("agent", context.Document)] = [] });
        }
        if (operation.OperationId == "ListBulletins" && operation.Responses?["200"].Content is { } content && content.ContainsKey("text/csv"))
            content["text/csv"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = "RFC 4180 CSV with a header row" } };
        if (operation.OperationId != "ImportCatalog") return;
        var file = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = "The catalog file: the whole body, or the multipart form field 'file'.",
            Content = new Dictionary<string, IOpenApiMediaType>
            {
                ["application/xml"] = new OpenApiMediaType { Schema = file },
                ["application/json"] = new OpenApiMediaType { Schema = file },
                ["application/octet-stream"] = new OpenApiMediaType { Schema = file },
                ["multipart/form-data"] = new OpenApiMediaType
                {
                    Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Properties = new Dictionary<string, IOpenApiSchema> { ["file"] = file },
                        Required = new HashSet<string> { "file" },
                    },
                },
            },
        };
        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = "format",
            In = ParameterLocation.Query,
            Required = true,
            Description = "cvrf | mssecure | patch | kev",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, Enum = ["cvrf", "mssecure", "patch", "kev"] },
        });
    }
}
