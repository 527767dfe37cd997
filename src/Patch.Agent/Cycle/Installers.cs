using System.Diagnostics;
using System.Text.Json;
using Patch.Domain.Cycle;
using Patch.Domain.Settings;

namespace Patch.Agent.Cycle;

/// <summary>One install: the package file, the policy's command line (the package's file name resolves in its folder), rights, run condition and timeout.</summary>
public sealed record InstallRequest(AssignedUpdate Update, string PackagePath, AssignedProgram Program);

public sealed record InstallResult(int ExitCode, InstallOutcome Outcome, string Detail);

public interface IInstaller
{
    Task<InstallResult> InstallAsync(InstallRequest request, CancellationToken ct);
}

/// <summary>Restarts the computer when the cycle's restart is due, and knows when it last started.</summary>
public interface IRestarter
{
    /// <summary>True when the restart was handed to the system (or, simulated, done).</summary>
    Task<bool> RestartAsync(string reason, CancellationToken ct);

    /// <summary>A mark of the computer's current run, kept with a pending restart (the uptime in milliseconds).</summary>
    long UptimeMark { get; }

    /// <summary>Whether the computer has started since a restart became pending at <paramref name="since"/> (uptime then: <paramref name="uptimeMark"/>).</summary>
    bool BootedSince(DateTimeOffset since, long? uptimeMark);
}

public sealed record ProcessResult(int ExitCode, bool TimedOut, string Output);

/// <summary>
/// Runs a command line as a real process: through cmd.exe on Windows, /bin/sh elsewhere, in the package's folder, with
/// its output captured; a process that outlives the timeout is killed with its whole tree.
/// </summary>
public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(string commandLine, string workingDirectory, TimeSpan timeout, CancellationToken ct)
    {
        ProcessStartInfo psi;
        if (OperatingSystem.IsWindows())
        {
            // cmd.exe does not read C-runtime escapes: the command line goes in verbatim, inside the quotes /s strips.
            psi = new ProcessStartInfo("cmd.exe") { Arguments = $"/d /s /c \"{commandLine}\"" };
        }
        else psi = new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", commandLine } };
        return await RunAsync(psi, workingDirectory, timeout, ct);
    }

    /// <summary>Runs a program (no shell) with its arguments.</summary>
    public static Task<ProcessResult> RunProgramAsync(string program, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(program);
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        return RunAsync(psi, workingDirectory, timeout, ct);
    }

    private static async Task<ProcessResult> RunAsync(ProcessStartInfo psi, string workingDirectory, TimeSpan timeout, CancellationToken ct)
    {
        psi.WorkingDirectory = workingDirectory;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start '{psi.FileName}'");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var output = process.StandardOutput.ReadToEndAsync(reading.Token);
        var errors = process.StandardError.ReadToEndAsync(reading.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended on its own meanwhile.
            }
            reading.Cancel();
            return new ProcessResult(-1, true, $"terminated after {timeout.TotalMinutes:0.##} minute(s)");
        }
        // The process has exited: its exit code stands. A child that inherited the pipes may keep them open, so the
        // output gets a few seconds, not the rest of the deadline.
        string text;
        try
        {
            text = string.Concat(await Task.WhenAll(output, errors).WaitAsync(TimeSpan.FromSeconds(5), ct)).Trim();
        }
        catch (TimeoutException)
        {
            reading.Cancel();
            text = "(output still open in a child process; not read)";
        }
        return new ProcessResult(process.ExitCode, false, Clean(text.Length > 500 ? text[..500] : text));
    }

    /// <summary>Installer output can hold NULs (UTF-16 written to a pipe) and other control characters: they go.</summary>
    public static string Clean(string text) => new(text.Where(c => !char.IsControl(c) || c is '\n' or '\t').ToArray());
}

/// <summary>
/// The real installer: runs the package's command line with the policy's terminate-after timeout and maps the exit code.
/// Rights: "System" runs as the agent's service account (LocalSystem on Windows). Running as the logged-in or a specified
/// user needs the Windows session and logon APIs, which this agent does not have yet: such programs are refused with
/// that reason, as are run conditions it cannot check (a logged-on user is detected on Windows only).
/// </summary>
public sealed class ProcessInstaller : IInstaller
{
    public async Task<InstallResult> InstallAsync(InstallRequest request, CancellationToken ct)
    {
        if (request.Program.RunWith != RunWithRights.System)
            return new InstallResult(-1, InstallOutcome.Failed, $"run with rights '{request.Program.RunWith}' is not supported by this agent yet; it runs programs as its own account (System) only");
        if (request.Program.CanRun != ProgramCanRun.WhetherOrNotUserLoggedOn)
        {
            if (!OperatingSystem.IsWindows())
                return new InstallResult(-1, InstallOutcome.Failed, $"run condition '{request.Program.CanRun}' needs Windows to tell whether a user is logged on");
            var userLoggedOn = Process.GetProcessesByName("explorer").Length > 0;
            if (request.Program.CanRun == ProgramCanRun.OnlyWhenUserLoggedOn && !userLoggedOn)
                return new InstallResult(-1, InstallOutcome.Failed, "run condition: only when a user is logged on, and none is");
            if (request.Program.CanRun == ProgramCanRun.OnlyWhenNoUserLoggedOn && userLoggedOn)
                return new InstallResult(-1, InstallOutcome.Failed, "run condition: only when no user is logged on, and one is");
        }
        var result = await ProcessRunner.RunAsync(request.Update.CommandLine, Path.GetDirectoryName(request.PackagePath)!, TimeSpan.FromMinutes(request.Program.TerminateAfterMinutes), ct);
        if (result.TimedOut) return new InstallResult(-1, InstallOutcome.Failed, result.Output);
        var outcome = InstallerExitCodes.Classify(result.ExitCode);
        return new InstallResult(result.ExitCode, outcome, $"exit code {result.ExitCode} (0x{result.ExitCode:X8}){(result.Output.Length > 0 ? ": " + result.Output : "")}");
    }
}

/// <summary>How the simulation installer treats one update (matched by update id, KB or bulletin number).</summary>
public sealed record SimulatedInstall(int FailTimes = 0, int FailExitCode = 1603, int? ExitCode = null, double Seconds = 0);

/// <summary>The simulated computer: KBs installed by the simulation, KBs removed from it, installs and restarts it recorded, and how installs behave.</summary>
public sealed record SimulationState(List<string> Installed, List<string> Removed, List<string> Attempts, List<DateTimeOffset> Restarts, Dictionary<string, SimulatedInstall> Plan)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public static string PathIn(string directory) => Path.Combine(directory, "simulation.json");

    public static SimulationState Load(string directory)
    {
        var file = PathIn(directory);
        var state = File.Exists(file) ? JsonSerializer.Deserialize<SimulationState>(File.ReadAllText(file), Json) : null;
        return state is null ? new SimulationState([], [], [], [], new Dictionary<string, SimulatedInstall>(StringComparer.OrdinalIgnoreCase))
            : state with { Plan = new Dictionary<string, SimulatedInstall>(state.Plan ?? [], StringComparer.OrdinalIgnoreCase) };
    }

    public void Save(string directory) => PrivateFile.Write(PathIn(directory), JsonSerializer.Serialize(this, Json));
}

/// <summary>
/// The simulation installer: records instead of installing. It can be told (simulation.json "plan") to fail N times, to
/// exit with a given code (3010 restart required, 1641 restart initiated, 0x00240006 already installed) or to take time;
/// an update that needs a restart exits 3010 by default. A successful install adds the update's KB to the simulated inventory.
/// </summary>
public sealed class SimulationInstaller(string stateDirectory, TimeProvider time) : IInstaller
{
    public async Task<InstallResult> InstallAsync(InstallRequest request, CancellationToken ct)
    {
        var state = SimulationState.Load(stateDirectory);
        var u = request.Update;
        var kb = (u.Kb ?? u.Bulletin).ToUpperInvariant();
        var plan = state.Plan.GetValueOrDefault(u.UpdateId) ?? state.Plan.GetValueOrDefault(kb) ?? state.Plan.GetValueOrDefault(u.Bulletin) ?? new SimulatedInstall();
        if (plan.Seconds > 0) await Task.Delay(TimeSpan.FromSeconds(plan.Seconds), time, ct);
        var attempt = state.Attempts.Count(a => a == u.UpdateId) + 1;
        state.Attempts.Add(u.UpdateId);
        var exit = attempt <= plan.FailTimes ? plan.FailExitCode
            : plan.ExitCode ?? (u.Restart == Patch.Domain.Catalog.RestartBehavior.Required ? InstallerExitCodes.RestartRequired : InstallerExitCodes.Success);
        var outcome = InstallerExitCodes.Classify(exit);
        if (outcome != InstallOutcome.Failed)
        {
            if (!state.Installed.Contains(kb)) state.Installed.Add(kb);
            state.Removed.Remove(kb);
        }
        // 1641: the installer restarted the computer itself.
        if (outcome == InstallOutcome.RestartInitiated) state.Restarts.Add(time.GetUtcNow());
        state.Save(stateDirectory);
        return new InstallResult(exit, outcome, $"simulated: exit code {exit} (0x{exit:X8}), attempt {attempt}");
    }
}

/// <summary>Records the restart in the simulation and reports it done; the simulated computer last started at its last recorded restart.</summary>
public sealed class SimulationRestarter(string stateDirectory, TimeProvider time) : IRestarter
{
    public long UptimeMark => (long)(time.GetUtcNow() - (SimulationState.Load(stateDirectory).Restarts.LastOrDefault() is { } last && last != default ? last : DateTimeOffset.UnixEpoch)).TotalMilliseconds;

    public bool BootedSince(DateTimeOffset since, long? uptimeMark) => SimulationState.Load(stateDirectory).Restarts.Any(r => r >= since);

    public Task<bool> RestartAsync(string reason, CancellationToken ct)
    {
        var state = SimulationState.Load(stateDirectory);
        state.Restarts.Add(time.GetUtcNow());
        state.Save(stateDirectory);
        return Task.FromResult(true);
    }
}

/// <summary>Hands the restart to Windows (shutdown /r with a one-minute notice); elsewhere the agent never restarts the machine it runs on.</summary>
public sealed class SystemRestarter : IRestarter
{
    public long UptimeMark => Environment.TickCount64;

    /// <summary>
    /// The uptime counter starts again at boot: lower than when the restart became pending means a boot since. A check
    /// long after the boot falls back to the boot time (now − uptime), with a margin against clock steps.
    /// </summary>
    public bool BootedSince(DateTimeOffset since, long? uptimeMark) =>
        (uptimeMark is { } mark && Environment.TickCount64 < mark)
        || DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(Environment.TickCount64) > since + TimeSpan.FromMinutes(5);

    public async Task<bool> RestartAsync(string reason, CancellationToken ct)
    {
        if (!OperatingSystem.IsWindows()) return false;
        var result = await ProcessRunner.RunProgramAsync(Path.Combine(Environment.SystemDirectory, "shutdown.exe"), ["/r", "/t", "60", "/c", $"Patch: {reason}"],
            Environment.SystemDirectory, TimeSpan.FromMinutes(1), ct);
        return result.ExitCode == 0;
    }
}
