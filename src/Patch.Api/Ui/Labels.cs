using Patch.Domain.AgentConfigurations;
using Patch.Domain.Catalog;
using Patch.Domain.Settings;

namespace Patch.Api.Ui;

/// <summary>The words the console shows for the domain's enumerations (their names stay the values the API takes).</summary>
public static class Labels
{
    public static string Of(RestartBehavior restart) => restart switch
    {
        RestartBehavior.NotRequired => "not required", RestartBehavior.Required => "required", RestartBehavior.Maybe => "may be required", _ => "unknown",
    };

    public static string Of(RebootMode mode) => mode switch
    {
        RebootMode.EndOfCycle => "at the end of the cycle", RebootMode.Scheduled => "on its own schedule", _ => "never (the user restarts)",
    };

    public static string Of(RunWithRights rights) => rights switch
    {
        RunWithRights.System => "the system account", RunWithRights.LoggedInUser => "the logged-on user", _ => "a specified user",
    };

    public static string Of(ProgramCanRun canRun) => canRun switch
    {
        ProgramCanRun.OnlyWhenUserLoggedOn => "only when a user is logged on", ProgramCanRun.OnlyWhenNoUserLoggedOn => "only when no user is logged on",
        _ => "whether or not a user is logged on",
    };
}
