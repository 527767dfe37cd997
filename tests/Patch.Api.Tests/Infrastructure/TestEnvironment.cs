using System.Runtime.CompilerServices;

namespace Patch.Api.Tests.Infrastructure;

/// <summary>
/// Every host a test starts (here or as a child process) runs no task by its schedule and reaches no public feed: the
/// Microsoft and CISA feeds are on by default outside demo mode, and tests call the scheduler's check themselves.
/// </summary>
internal static class TestEnvironment
{
    [ModuleInitializer]
    internal static void Initialize()
    {
        Environment.SetEnvironmentVariable("Patch__ServerTasks__CheckSeconds", "0");
        Environment.SetEnvironmentVariable("Patch__Microsoft__CvrfImport__Enabled", "false");
        Environment.SetEnvironmentVariable("Patch__Cisa__KevImport__Enabled", "false");
    }
}
