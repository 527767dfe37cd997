using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Security;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

/// <summary>
/// Every route of the application's own route table is classified (docs/security.md says the same), and each
/// credential gets exactly what the table says: none → 401, a role below the route's → 403, otherwise in.
/// </summary>
public partial class when_any_route_is_called(AppFixture app) : AppTest(app)
{
    private sealed record Route(string Method, string Pattern, string Access);

    private IReadOnlyList<Route> RouteTable() =>
        App.Host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IHttpMethodMetadata>()?.HttpMethods ?? ["ANY"])
                .Select(m => new Route(m, "/" + e.RoutePattern.RawText!.Trim('/'), e.Metadata.GetMetadata<EndpointAccess>()?.Label ?? "UNCLASSIFIED")))
            .Distinct().OrderBy(r => r.Pattern, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal).ToList();

    [Fact]
    public void the_route_table_and_docs_security_md_agree()
    {
        var routes = RouteTable();
        string Rows(IEnumerable<Route> rs) => string.Join("\n", rs.Select(r => $"| {r.Method} | `{r.Pattern}` | {r.Access} |"));
        var table = "API, agent and replication routes:\n" + Rows(routes.Where(r => IsApi(r.Pattern))) + "\n\nConsole pages:\n" + Rows(routes.Where(r => !IsApi(r.Pattern)));
        Assert.True(routes.All(r => r.Access != "UNCLASSIFIED"), $"Routes nobody classified (add ForAuditor/ForOperator/ForAdministrator/ForAgent/Anonymous):\n{table}");
        var documented = File.ReadAllLines(SharedData.RepoFile("docs/security.md"))
            .Select(l => DocRow().Match(l)).Where(m => m.Success)
            .Select(m => new Route(m.Groups["method"].Value, m.Groups["pattern"].Value, m.Groups["access"].Value)).ToList();
        Assert.True(documented.OrderBy(r => r.Pattern, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal).SequenceEqual(routes),
            $"docs/security.md's route table differs from the application's routes. The application's:\n{table}");
    }

    [Fact]
    public async Task each_credential_gets_exactly_what_the_table_says()
    {
        using var admin = App.Client("matrix-admin", Roles.Administrator);
        var enrolment = await (await admin.PostAsync("/api/enrolment-tokens", Json(new { name = "matrix" }))).Content.ReadFromJsonAsync<JsonElement>();
        var enrolled = await (await App.AnonymousClient().PostAsync("/agent/v1/enrol", Json(new { token = enrolment.GetProperty("token").GetString(), computerName = "MATRIX-PC", agentVersion = "0.1.0" })))
            .Content.ReadFromJsonAsync<JsonElement>();
        var agentCredential = enrolled.GetProperty("credential").GetString()!;
        var credentials = new Dictionary<string, string?>
        {
            ["none"] = null,
            [Roles.Auditor] = App.TokenFor("matrix-auditor", Roles.Auditor),
            [Roles.Operator] = App.TokenFor("matrix-operator", Roles.Operator),
            [Roles.Administrator] = App.TokenFor("matrix-admin", Roles.Administrator),
            ["agent"] = agentCredential,
        };
        var failures = new List<string>();
        foreach (var route in RouteTable().Where(r => r.Method != "ANY" || r.Access == EndpointAccess.Anonymous))
        {
            var url = Parameter().Replace(route.Pattern, "matrix-x");
            foreach (var (who, credential) in credentials)
            {
                var request = new HttpRequestMessage(new HttpMethod(route.Method == "ANY" ? "GET" : route.Method), url);
                if (credential is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
                if (route.Method is "POST" or "PUT" or "PATCH") request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
                using var client = App.AnonymousClient();
                using var response = await client.SendAsync(request);
                var status = response.StatusCode;
                // An endpoint may refuse a credential of its own (an enrolment token in the body): that is not the authentication's 401.
                var authRefused = status == HttpStatusCode.Forbidden
                    || status == HttpStatusCode.Unauthorized && (await response.Content.ReadAsStringAsync()).Contains("\"Authentication required\"");
                var expected = Expected(route.Access, who);
                // A console page sends a person without a session to the sign-in page.
                if (!IsApi(route.Pattern) && expected == HttpStatusCode.Unauthorized && who == "none") expected = HttpStatusCode.Redirect;
                var ok = expected switch
                {
                    HttpStatusCode.OK => !authRefused,
                    HttpStatusCode.Redirect => status == HttpStatusCode.Redirect && response.Headers.Location?.ToString().Contains("/sign-in") == true,
                    _ => status == expected,
                };
                if (!ok) failures.Add($"{route.Method} {url} as {who}: {(int)status}, expected {(expected == HttpStatusCode.OK ? "allowed" : ((int)expected).ToString())}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static bool IsApi(string pattern) => pattern.StartsWith("/api/") || pattern.StartsWith("/agent/") || pattern.StartsWith("/health/") || pattern.StartsWith("/replication/");

    /// <summary>OK stands for "allowed" (any answer but 401 and 403).</summary>
    private static HttpStatusCode Expected(string access, string who) => access switch
    {
        EndpointAccess.Anonymous => HttpStatusCode.OK,
        EndpointAccess.Agent => who == "agent" ? HttpStatusCode.OK : HttpStatusCode.Unauthorized,
        // A child server's routes: no user's or agent's credential opens them (the hierarchy tests use a child's own).
        EndpointAccess.ChildServer => HttpStatusCode.Unauthorized,
        _ when who is "none" or "agent" => HttpStatusCode.Unauthorized,
        "signed-in" => HttpStatusCode.OK,
        _ => Roles.Rank(who) >= Roles.Rank(access) ? HttpStatusCode.OK : HttpStatusCode.Forbidden,
    };

    private static StringContent Json(object body) => new(System.Text.Json.JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    [GeneratedRegex(@"^\|\s*(?<method>[A-Z]+)\s*\|\s*`(?<pattern>/[^`]*)`\s*\|\s*(?<access>[a-z-]+)\s*\|\s*$")]
    private static partial Regex DocRow();

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex Parameter();
}
