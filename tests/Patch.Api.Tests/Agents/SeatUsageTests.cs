using System.Net;
using Patch.Agent;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Agents;

public class when_seat_usage_is_asked(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task computers_with_an_agent_are_counted_per_day_with_enrolments_and_removals()
    {
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "seats", maxUses = 10 });
        var agents = new AgentClient(App.Client());
        foreach (var name in new[] { "SEAT-1", "SEAT-2", "SEAT-3" })
            await agents.EnrolAsync(issued.GetProperty("token").GetString()!, name, null, "0.1.0", CancellationToken.None);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/api/computers/SEAT-2/agent")).Status);

        var days = await GetJsonAsync("/api/reports/seat-usage");
        Assert.Equal(30, days.GetArrayLength());
        var today = days[29];
        Assert.Equal(DateOnly.FromDateTime(DateTime.UtcNow).ToString("yyyy-MM-dd"), today.GetProperty("day").GetString());
        Assert.Equal(2, today.GetProperty("computers").GetInt64());
        Assert.Equal(3, today.GetProperty("enrolled").GetInt64());
        Assert.Equal(1, today.GetProperty("removed").GetInt64());
        Assert.Equal(0, days[0].GetProperty("computers").GetInt64());

        using var client = App.Client();
        var csv = await client.GetStringAsync($"/api/reports/seat-usage?from={DateTime.UtcNow:yyyy-MM-dd}&format=csv", TestContext.Current.CancellationToken);
        Assert.StartsWith("day,computers,enrolled,removed", csv);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Get, "/api/reports/seat-usage?from=yesterday")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Get, "/api/reports/seat-usage?asOf=2026-01-01T00:00:00Z")).Status);
    }
}
