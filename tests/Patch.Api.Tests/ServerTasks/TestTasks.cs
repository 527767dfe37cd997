using Patch.Application.Common;
using Patch.Application.ServerTasks;

namespace Patch.Api.Tests.ServerTasks;

/// <summary>A task the test host knows besides the built-in ones: it works until a test lets it finish (or it is cancelled).</summary>
public static class TestTasks
{
    public const string Wait = "test-wait";

    public static SemaphoreSlim Gate { get; } = new(0);

    public static ServerTaskDefinition WaitTask => new(Wait, "A test task that runs until the test releases it.", null, false, async (_, ct) =>
    {
        await Gate.WaitAsync(ct);
        return new TaskOutcome(new Dictionary<string, int> { ["waited"] = 1 });
    });
}
