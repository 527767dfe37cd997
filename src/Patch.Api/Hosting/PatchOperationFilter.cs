using System.Text.Json.Nodes;
using Microsoft.OpenApi;
using Patch.Application.Common;
using Patch.Application.Security;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace Patch.Api.Hosting;

/// <summary>
/// What endpoint metadata cannot say by itself: each operation's security (from its <see cref="EndpointAccess"/>) with
/// its 401/403 answers, the query parameters an endpoint reads itself (<see cref="QueryParametersMetadata"/>) with
/// their real types, the catalog import body (raw file or multipart field 'file': declaring it with Accepts() would
/// make ASP.NET refuse other content types with 415) and the CSV form of the lists.
/// </summary>
public sealed class PatchOperationFilter : IOperationFilter
{
    /// <summary>Parameters parsed by hand from a string (for better messages), documented with the type they take.</summary>
    private static readonly Dictionary<string, Func<OpenApiSchema>> Typed = new()
    {
        ["page"] = () => new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1" },
        ["pageSize"] = () => new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1", Maximum = "1000" },
        ["staged"] = () => new OpenApiSchema { Type = JsonSchemaType.Boolean },
        ["knownExploited"] = () => new OpenApiSchema { Type = JsonSchemaType.Boolean },
        ["superseded"] = () => new OpenApiSchema { Type = JsonSchemaType.Boolean },
        ["releasedFrom"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" },
        ["releasedTo"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" },
        ["revisedFrom"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" },
        ["revisedTo"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" },
        ["format"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Enum = [JsonValue.Create("csv"), JsonValue.Create("json")] },
        ["view"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Enum = [JsonValue.Create("latest"), JsonValue.Create("lastMonth")] },
    };

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        var metadata = context.ApiDescription.ActionDescriptor.EndpointMetadata;
        Secure(operation, context, metadata.OfType<EndpointAccess>().LastOrDefault());
        operation.Parameters ??= [];
        foreach (var p in operation.Parameters.OfType<OpenApiParameter>())
            if (p.In == ParameterLocation.Query && Typed.TryGetValue(p.Name!, out var schema) && p.Schema is OpenApiSchema { Format: null } s && s.Type == JsonSchemaType.String && s.Enum is not { Count: > 0 })
                p.Schema = schema();
        foreach (var q in metadata.OfType<QueryParametersMetadata>().SelectMany(m => m.Parameters))
            if (operation.Parameters.All(p => p.Name != q.Name))
                operation.Parameters.Add(new OpenApiParameter { Name = q.Name, In = ParameterLocation.Query, Description = q.Description, Schema = SchemaOf(q), Required = q.Required });

        if (operation.Responses?.TryGetValue("200", out var ok) == true && ok.Content is { } content && content.ContainsKey("text/csv"))
            content["text/csv"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = "RFC 4180 CSV with a header row" } };
        if (metadata.OfType<EvaluatesPreconditionsMetadata>().LastOrDefault() is { } preconditions) Preconditions(operation, context, preconditions);
        // Every operation refuses a query parameter it does not take, one given twice or out of its kind, a control character
        // in its path or query and a body it does not take (QueryParameters, RequestText, RequestBodies): a 400 it may answer.
        operation.Responses!.TryAdd("400", Problem(context, "Bad request: what is wrong and where (a query parameter, the path, the body's JSON path)."));
        // What any operation may meet (RequestLimits, ProblemExceptionHandler): a caller over its requests a minute, a body
        // over the route's limit, the database away.
        operation.Responses.TryAdd("429", Problem(context, "Too many requests: the caller's requests a minute are spent; ask again later."));
        operation.Responses.TryAdd("503", Problem(context, "The database cannot do the work right now: nothing was saved (or, when the change was committed before the failure, the answer says so: read before sending again); try again shortly."));
        if (operation.RequestBody is not null || context.ApiDescription.ParameterDescriptions.Any(p => p.Source == Microsoft.AspNetCore.Mvc.ModelBinding.BindingSource.Body))
            operation.Responses.TryAdd("413", Problem(context, "The body is larger than this operation takes."));
        if (operation.OperationId == "ImportCatalog") ImportBody(operation);
        if (operation.OperationId == "ImportComputers")
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = "RFC 4180 CSV with the header row name,domain,os,mac (UTF-8).",
                Content = new Dictionary<string, IOpenApiMediaType> { ["text/csv"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } } },
            };
    }

    /// <summary>A response of a problem (RFC 9457 details) with this description.</summary>
    private static OpenApiResponse Problem(OperationFilterContext context, string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, IOpenApiMediaType> { ["application/problem+json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference("ProblemDetails", context.Document) } },
    };

    /// <summary>The entity tag an operation answers and the preconditions it evaluates (ConditionalRequests): If-Match, and on reads If-None-Match.</summary>
    private static void Preconditions(OpenApiOperation operation, OperationFilterContext context, EvaluatesPreconditionsMetadata preconditions)
    {
        var read = context.ApiDescription.HttpMethod is "GET" or "HEAD";
        var tag = new OpenApiSchema { Type = JsonSchemaType.String };
        operation.Parameters!.Add(new OpenApiParameter
        {
            Name = "If-Match", In = ParameterLocation.Header, Schema = tag,
            Description = read ? "Answer only if the resource's entity tag is one of these (else 412)." :
                "The entity tag of the version the change was made from (its ETag): if the resource changed since, 412 and nothing is done.",
        });
        if (read || !preconditions.IfMatchOnly)
            operation.Parameters.Add(new OpenApiParameter { Name = "If-None-Match", In = ParameterLocation.Header, Schema = tag, Description = "The entity tag held: 304 when it is still current." });
        operation.Responses!.TryAdd("412", Problem(context,
            "Precondition failed: the resource's entity tag is not the one given in If-Match (its current one is in ETag); nothing was done."));
        if (read) operation.Responses.TryAdd("304", new OpenApiResponse { Description = "Not modified: If-None-Match holds the current entity tag." });
        foreach (var (code, response) in operation.Responses.Where(r => r.Key is "200" or "201" or "304" or "412"))
            if (response is OpenApiResponse r)
                (r.Headers ??= new Dictionary<string, IOpenApiHeader>())["ETag"] = new OpenApiHeader
                {
                    Description = "The resource's entity tag: its version (a package: its SHA-256).", Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                };
    }

    private static OpenApiSchema SchemaOf(QueryParameter q) => new()
    {
        Type = q.Type switch { "integer" => JsonSchemaType.Integer, "boolean" => JsonSchemaType.Boolean, _ => JsonSchemaType.String },
        Format = q.Format ?? (q.Type == "integer" ? "int32" : null),
        Minimum = q.Minimum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Maximum = q.Maximum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Enum = q.Enum?.Select(v => (JsonNode)JsonValue.Create(v)).ToList(),
    };

    private static void Secure(OpenApiOperation operation, OperationFilterContext context, EndpointAccess? access)
    {
        operation.Security ??= [];
        operation.Responses ??= new OpenApiResponses();
        if (access is null or { Kind: EndpointAccess.Anonymous })
        {
            // No credential: an explicit empty requirement says so.
            operation.Security.Clear();
            return;
        }
        operation.Responses.TryAdd("401", Problem(context, access.Kind switch
        {
            EndpointAccess.Agent => "No valid agent credential.",
            EndpointAccess.ChildServer => "No valid child server credential.",
            _ => "No valid credential (token, OIDC access token or session cookie).",
        }));
        if (access.Kind is EndpointAccess.Agent or EndpointAccess.ChildServer)
        {
            var scheme = access.Kind == EndpointAccess.Agent ? PatchOpenApi.Agent : PatchOpenApi.ChildServer;
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, context.Document)] = [] });
            return;
        }
        operation.Responses.TryAdd("403", Problem(context, access.Role is { } role ? $"The signed-in user's role is below {role}." : "The credential does not allow this."));
        if (access.Role is { } r)
            operation.Description = (operation.Description is { Length: > 0 } d ? d + "\n\n" : "") + $"Role: {r} or above.";
        operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(PatchOpenApi.Bearer, context.Document)] = [] });
        operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(PatchOpenApi.Cookie, context.Document)] = [] });
    }

    private static void ImportBody(OpenApiOperation operation)
    {
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
    }
}

/// <summary>The document's servers entry (the server that serves it) and what each group of operations is for.</summary>
public sealed class PatchDocumentFilter : IDocumentFilter
{
    private static readonly Dictionary<string, string> Tags = new()
    {
        ["Agent"] = "The agent protocol: enrolment, inventory, status events, assignments, packages (agent credential).",
        ["Agent configuration"] = "Agent configuration policies: the default one and clones with targets and priority (C7).",
        ["Agents"] = "Enrolment tokens and the administration of computers' agents (reset, revoke).",
        ["Catalog import"] = "Vendor catalogs (CVRF, mssecure, Patch JSON, CISA KEV) imported on demand and on a schedule (C1).",
        ["Computers"] = "Computers known before and after they have an agent, and their updates.",
        ["Custom severity levels"] = "Custom severity levels and their assignment to bulletins (C3).",
        ["Hierarchy"] = "Parent and child servers (C10): registration tokens, children and their language alerts, this server's parent; the replication feed a child reads with its own credential (signed answers).",
        ["History"] = "Any stream's events with who or what caused each (C12).",
        ["Maintenance windows"] = "Time spans in which installs and restarts may happen (C7).",
        ["Patch Remediation Center"] = "Software bulletins: search, filters, views, CSV, details, history (C2).",
        ["Reports"] = "Compliance, vulnerabilities, delivery, reboot status and the home page (C11).",
        ["Audit"] = "Every event of every stream: who changed what, when, and from what to what (C12).",
        ["Server tasks"] = "Server tasks (C8): their cron schedules, runs on demand, cancellation and run history.",
        ["Notifications"] = "Webhook subscriptions (the seed's automation policies): signed notifications of imports, failed tasks, known-exploited CVEs, disabled superseded advertisements and failed staging, with their delivery logs.",
        ["Settings"] = "Core and vendor settings (C1, C9).",
        ["Sign-in"] = "Sign-in, sign-out, who the caller is, the caller's password and personal access tokens (C14).",
        ["Software Update policies"] = "Policies that distribute staged updates to targets (C5).",
        ["Staging"] = "Downloading bulletins' updates into the package store (C4).",
        ["Targets"] = "Built-in and custom targets and their members.",
        ["Users"] = "Local users and their roles (administrators).",
    };

    public void Apply(OpenApiDocument document, DocumentFilterContext context)
    {
        document.Servers = [new OpenApiServer { Url = "/", Description = "This Patch server" }];
        var used = document.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []).SelectMany(o => o.Tags ?? new HashSet<OpenApiTagReference>())
            .Select(t => t.Name).OfType<string>().Distinct().Order(StringComparer.Ordinal);
        document.Tags = new HashSet<OpenApiTag>(used.Select(name => new OpenApiTag
        {
            Name = name,
            Description = Tags.TryGetValue(name, out var d) ? d : throw new InvalidOperationException($"OpenAPI tag '{name}' has no description in PatchDocumentFilter"),
        }));
    }
}
