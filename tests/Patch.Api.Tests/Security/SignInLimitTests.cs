using System.Net;
using System.Text;
using Alba;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Users;

namespace Patch.Api.Tests.Security;

/// <summary>The sign-in rate limit, on a host of its own (the shared one allows many sign-ins a minute for the other tests).</summary>
public class when_someone_guesses_passwords_fast
{
    [Fact]
    public async Task sign_in_attempts_beyond_the_limit_get_429_while_signed_in_work_goes_on()
    {
        var connection = await TestDatabase.ConnectionStringAsync("patch_sign_in_limit");
        await using var host = await AlbaHost.For<Program>(b =>
        {
            b.UseSetting("ConnectionStrings:Patch", connection);
            b.UseSetting("Patch:Auth:SignIn:AttemptsPerMinute", "3");
            b.UseSetting("Patch:Staging:PackageDirectory", Path.Combine(Path.GetTempPath(), $"patch-limit-{Guid.NewGuid():N}"));
        });
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var accounts = scope.ServiceProvider.GetRequiredService<UserAccounts>();
            await accounts.CreateAsync(Application.Common.Actor.CommandLine(), $"limit-{Guid.NewGuid():N}"[..20], null, "administrator", "a passphrase long enough", false, CancellationToken.None);
        }
        using var client = host.Server.CreateClient();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            using var response = await client.PostAsync("/api/auth/sign-in",
                new StringContent("""{"userName":"someone","password":"guess number one"}""", Encoding.UTF8, "application/json"));
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.Equal("60", response.Headers.GetValues("Retry-After").Single());
                Assert.Contains("Too many sign-in attempts", await response.Content.ReadAsStringAsync());
            }
        }
        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        // Nothing else is limited: a token's requests go on.
        await using var scope2 = host.Services.CreateAsyncScope();
        var store = scope2.ServiceProvider.GetRequiredService<Marten.IDocumentStore>();
        await using var session = store.QuerySession();
        var admin = (await session.Query<Domain.Users.User>().ToListAsync()).First();
        var (issued, _) = await scope2.ServiceProvider.GetRequiredService<UserAccounts>().CreateTokenAsync(Application.Common.Actor.CommandLine(), admin.Id, "limit", null, null, CancellationToken.None);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", issued!.Token);
        for (var i = 0; i < 50; i++) Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/bulletins")).StatusCode);
    }
}
