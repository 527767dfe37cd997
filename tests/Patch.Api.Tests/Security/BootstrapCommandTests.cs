using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Patch.Api.Tests.Security;

/// <summary>
/// The README's first steps on a fresh data directory: the server on its own embedded PostgreSQL (demo mode prints the
/// demo administrator), then the bootstrap commands beside the running server, then a request with the printed token.
/// </summary>
public partial class when_a_fresh_server_is_bootstrapped : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"patch-bootstrap-{Guid.NewGuid():N}"[..32]);
    private readonly StringBuilder _log = new();
    private Process? _server;
    private string _url = "";

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_data);
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(_data, (UnixFileMode)Convert.ToInt32("755", 8));
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        _url = $"http://127.0.0.1:{port}";
        _server = Start($"--Patch:Demo=true --Patch:DataDirectory={_data} --urls {_url}");
        _server.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _server.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();
        using var http = new HttpClient();
        for (var i = 0; i < 240; i++)
        {
            try
            {
                if ((await http.GetAsync($"{_url}/health/ready")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            if (_server.HasExited) break;
            await Task.Delay(500);
        }
        throw new InvalidOperationException($"The server did not become ready:\n{Log()}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            // SIGTERM: the server stops its embedded PostgreSQL on the way out.
            Process.Start("kill", ["-TERM", _server.Id.ToString()])!.WaitForExit();
            await _server.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        _server?.Dispose();
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static Process Start(string arguments, bool redirectInput = false)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Patch.Api.dll");
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" {arguments}")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = redirectInput, UseShellExecute = false,
        };
        psi.Environment.Remove("ConnectionStrings__Patch");
        return Process.Start(psi)!;
    }

    private string Log() { lock (_log) return _log.ToString(); }

    private async Task<(int Exit, string Out, string Err)> CommandAsync(string arguments, string? stdin = null)
    {
        using var process = Start($"{arguments} --Patch:DataDirectory={_data}", redirectInput: true);
        if (stdin is not null) await process.StandardInput.WriteLineAsync(stdin);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await output, await error);
    }

    [Fact]
    public async Task the_demo_administrator_signs_in_and_the_commands_create_a_user_and_a_token_that_works()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_url) };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/bulletins")).StatusCode);

        Match demo = Match.Empty;
        for (var i = 0; i < 100 && !(demo = DemoLine().Match(Log())).Success; i++) await Task.Delay(200);
        Assert.True(demo.Success, $"no demo administrator in the log:\n{Log()}");
        var signIn = await http.PostAsync("/api/auth/sign-in",
            new StringContent($$"""{"userName":"{{demo.Groups["user"].Value}}","password":"{{demo.Groups["password"].Value}}"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, signIn.StatusCode);

        var added = await CommandAsync("users add carol --role operator --display-name \"Carol Ops\" --password-stdin", "carol's long passphrase");
        Assert.True(added.Exit == 0, added.Err);
        Assert.Contains("Created operator 'carol'", added.Out);
        var created = await CommandAsync("tokens create --user carol --name ci --expires 7d");
        Assert.True(created.Exit == 0, created.Err);
        var token = created.Out.TrimEnd().Split('\n').Last().Trim();
        Assert.StartsWith("patch_pat_", token);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/auth/me");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var me = await (await http.SendAsync(request)).Content.ReadAsStringAsync();
        Assert.Contains("\"userName\":\"carol\"", me);
        Assert.Contains("\"role\":\"operator\"", me);
        Assert.Contains("\"displayName\":\"Carol Ops\"", me);

        // Bad input: a clear message and a non-zero exit, nothing created.
        var weak = await CommandAsync("users add dave --role operator --password-stdin", "short");
        Assert.Equal(1, weak.Exit);
        Assert.Contains("at least 12 characters", weak.Err);
        var badRole = await CommandAsync("users add dave --role god --password-stdin", "a good long passphrase");
        Assert.Equal(2, badRole.Exit);
        Assert.Contains("god", badRole.Err);
        var noTerminal = await CommandAsync("users add dave --role operator");
        Assert.Equal(2, noTerminal.Exit);
        Assert.Contains("--password-stdin", noTerminal.Err);
        var nobody = await CommandAsync("tokens create --user nobody");
        Assert.Equal(1, nobody.Exit);
        Assert.Contains("No such user", nobody.Err);
        var badExpiry = await CommandAsync("tokens create --user carol --expires 3weeks");
        Assert.Equal(2, badExpiry.Exit);
        Assert.Contains("--expires", badExpiry.Err);
        var listed = await CommandAsync("users list");
        Assert.Equal(["admin", "carol"], listed.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]));
    }

    [GeneratedRegex("Demo administrator: user name '(?<user>[^']+)', password '(?<password>[^']+)'")]
    private static partial Regex DemoLine();
}
