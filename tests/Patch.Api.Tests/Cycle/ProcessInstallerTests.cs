using System.Diagnostics;
using Patch.Agent.Cycle;
using Patch.Domain.Catalog;
using Patch.Domain.Cycle;
using Patch.Domain.Settings;

namespace Patch.Api.Tests.Cycle;

/// <summary>
/// The real installer runs real processes: shell scripts stand in for packages here. POSIX exit statuses are 8 bits, so
/// 3010, 1641 and 0x00240006 cannot come from a Linux process; their meaning is tested on the classifier, which the
/// Windows runner feeds the full 32-bit code.
/// </summary>
public sealed class when_the_installer_runs_package_command_lines : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("patch-installer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private InstallRequest Request(string script, string commandLine, RunWithRights rights = RunWithRights.System, int minutes = 1, ProgramCanRun canRun = ProgramCanRun.WhetherOrNotUserLoggedOn)
    {
        var package = Path.Combine(_dir, "package.sh");
        File.WriteAllText(package, script);
        var update = new AssignedUpdate("ms:KB1", "KB1", "u1", "W", "neutral", null, RestartBehavior.NotRequired, new string('a', 64), 1, "package.sh", "/x", commandLine,
            null, null, null, []);
        return new InstallRequest(update, package, new AssignedProgram(rights, null, null, canRun, minutes));
    }

    [Fact]
    public async Task the_command_line_runs_in_the_package_folder_and_its_exit_code_decides()
    {
        var ok = await new ProcessInstaller().InstallAsync(Request("echo installed > marker.txt; echo done", "sh ./package.sh"), CancellationToken.None);
        Assert.Equal(InstallOutcome.Succeeded, ok.Outcome);
        Assert.Equal("installed", File.ReadAllText(Path.Combine(_dir, "marker.txt")).Trim());
        Assert.Contains("exit code 0", ok.Detail);
        Assert.Contains("done", ok.Detail);

        var failed = await new ProcessInstaller().InstallAsync(Request("echo 'no disk space' >&2; exit 112", "sh ./package.sh"), CancellationToken.None);
        Assert.Equal(InstallOutcome.Failed, failed.Outcome);
        Assert.Equal(112, failed.ExitCode);
        Assert.Contains("no disk space", failed.Detail);

        var missing = await new ProcessInstaller().InstallAsync(Request("", "./not-there.exe /quiet"), CancellationToken.None);
        Assert.Equal(InstallOutcome.Failed, missing.Outcome);
        Assert.Equal(127, missing.ExitCode);
    }

    [Fact]
    public async Task a_process_past_its_timeout_is_killed_with_its_children()
    {
        var watch = Stopwatch.StartNew();
        var result = await ProcessRunner.RunAsync("sleep 30 & sleep 30; echo never", _dir, TimeSpan.FromMilliseconds(300), CancellationToken.None);
        Assert.True(result.TimedOut);
        Assert.Equal(-1, result.ExitCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task other_rights_than_system_are_refused_with_the_reason()
    {
        var result = await new ProcessInstaller().InstallAsync(Request("exit 0", "sh ./package.sh", RunWithRights.LoggedInUser), CancellationToken.None);
        Assert.Equal(InstallOutcome.Failed, result.Outcome);
        Assert.Contains("run with rights 'LoggedInUser' is not supported by this agent yet", result.Detail);
        Assert.False(File.Exists(Path.Combine(_dir, "marker.txt")));
        if (OperatingSystem.IsWindows()) return;
        var condition = await new ProcessInstaller().InstallAsync(Request("echo x > marker.txt", "sh ./package.sh", canRun: ProgramCanRun.OnlyWhenUserLoggedOn), CancellationToken.None);
        Assert.Equal(InstallOutcome.Failed, condition.Outcome);
        Assert.Contains("needs Windows to tell whether a user is logged on", condition.Detail);
        Assert.False(File.Exists(Path.Combine(_dir, "marker.txt")));
    }

    [Fact]
    public async Task a_child_that_keeps_the_output_open_does_not_hold_the_runner_and_the_exit_code_stands()
    {
        var watch = Stopwatch.StartNew();
        // The shell exits at once with 3; its background child keeps stdout open for 30 s.
        var result = await ProcessRunner.RunAsync("(sleep 30) & exit 3", _dir, TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.False(result.TimedOut);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("output still open", result.Output);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20));
        Assert.Equal("a\tb\nc", ProcessRunner.Clean("a\tb\nc\0\u0001"));
    }
}
