using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Security;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

/// <summary>Helpers of the sign-in tests: users created through the API, browser-like clients that keep cookies.</summary>
public abstract class SecurityTestBase(AppFixture app) : AppTest(app)
{
    protected const string Password = "a passphrase long enough";

    /// <summary>A user created by an administrator through the API (so the password is really hashed).</summary>
    protected async Task CreateUserAsync(string name, string role, string password = Password, bool mustChangePassword = false)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/api/users", new { userName = name, role, password, mustChangePassword });
        Assert.True(status == HttpStatusCode.Created, body.ToString());
    }

    /// <summary>
    /// A request as a probe sends it (any bytes, any Content-Type, headers as written), by an administrator — or, with
    /// <paramref name="bearer"/>, anonymously with that bearer token when it is not empty. Answered status and text.
    /// </summary>
    protected async Task<(HttpStatusCode Status, string Body)> RawAsync(HttpMethod method, string url, byte[]? body = null, string? contentType = null,
        string? bearer = null, string? ifMatch = null, Action<HttpContentHeaders>? headers = null)
    {
        using var client = bearer is null ? App.Client("dana") : App.AnonymousClient();
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            if (contentType is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            headers?.Invoke(request.Content.Headers);
        }
        if (!string.IsNullOrEmpty(bearer)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (ifMatch is not null) request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>Computers registered by an administrator (or already there), for lists to page through.</summary>
    protected async Task ComputersAsync(params string[] names)
    {
        foreach (var name in names)
            Assert.True((await SendAsync(HttpMethod.Post, "/api/computers", new { name })).Status is HttpStatusCode.Created or HttpStatusCode.OK, name);
    }

    /// <summary>A JSON text's UTF-8 bytes, for <see cref="RawAsync"/>.</summary>
    protected static byte[]? Utf8(string? text) => text is null ? null : Encoding.UTF8.GetBytes(text);

    /// <summary>A client that keeps cookies, like a browser.</summary>
    protected HttpClient Browser() => new(new CookieKeeper(App.Host.Server.CreateHandler())) { BaseAddress = App.Host.Server.BaseAddress };

    protected static async Task<(HttpStatusCode Status, JsonElement Body)> Send(HttpClient client, HttpMethod method, string url, object? body = null,
        string? bearer = null, string? antiforgery = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (body is not null) request.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (antiforgery is not null) request.Headers.Add(PatchAuth.AntiforgeryHeader, antiforgery);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    protected static async Task<HttpStatusCode> SignInAsync(HttpClient browser, string name, string password = Password) =>
        (await Send(browser, HttpMethod.Post, "/api/auth/sign-in", new { userName = name, password })).Status;

    protected static async Task<string> AntiforgeryAsync(HttpClient browser)
    {
        var (status, body) = await Send(browser, HttpMethod.Get, "/api/auth/antiforgery");
        Assert.Equal(HttpStatusCode.OK, status);
        return body.GetProperty("token").GetString()!;
    }

    protected async Task<JsonElement[]> HistoryAsync(string streamId) => (await GetJsonAsync($"/api/history/{streamId}")).EnumerateArray().ToArray();

    protected static string[] Types(IEnumerable<JsonElement> history) => history.Select(e => e.GetProperty("type").GetString()!).ToArray();

    protected static string Role(string role) => Roles.Parse(role)!;

    /// <summary>Keeps the cookies the server sets and sends them back, as a browser does (the test server has no cookie container).</summary>
    private sealed class CookieKeeper(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private readonly CookieContainer _cookies = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var uri = request.RequestUri!.IsAbsoluteUri ? request.RequestUri : new Uri(new Uri("http://localhost/"), request.RequestUri);
            var header = _cookies.GetCookieHeader(uri);
            if (header.Length > 0) request.Headers.Add("Cookie", header);
            var response = await base.SendAsync(request, ct);
            if (response.Headers.TryGetValues("Set-Cookie", out var set))
                foreach (var cookie in set) _cookies.SetCookies(uri, cookie);
            return response;
        }
    }
}
