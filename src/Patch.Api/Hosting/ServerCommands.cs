using System.CommandLine;
using System.Text.Json;
using Marten;
using Patch.Application.Catalog;
using Patch.Application.Common;
using Patch.Application.Hosting;
using Patch.Application.Users;
using Patch.Domain.ServerTasks;
using Patch.Domain.Users;
using Compliance = Patch.Application.Compliance;
using ServerTasks = Patch.Application.ServerTasks;

namespace Patch.Api.Hosting;

/// <summary>
/// The server's commands (System.CommandLine), run against the same database settings as the server, also beside a
/// running server on the embedded cluster. Options the commands do not know (<c>--Patch:DataDirectory=…</c>,
/// <c>--ConnectionStrings:Patch=…</c>) configure the host as they would the server. Exit codes: 0 done, 1 refused,
/// 2 bad command line, 3 database unreachable.
/// </summary>
public static class ServerCommands
{
    private static readonly string[] Verbs = ["import", "users", "tokens", "export", "import-store"];

    public static bool IsCommand(string[] args) => args.Length > 0 && Verbs.Contains(args[0]);

    public static async Task<int> InvokeAsync(string[] args)
    {
        var root = new RootCommand("Patch server commands");
        root.Subcommands.Add(ImportCommand());
        root.Subcommands.Add(UsersCommand());
        root.Subcommands.Add(TokensCommand());
        root.Subcommands.Add(ExportCommand());
        root.Subcommands.Add(ImportStoreCommand());
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && !args.Any(a => a is "-h" or "--help" or "-?"))
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine(error.Message);
            Console.Error.WriteLine($"See: Patch.Api {string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')).Take(2))} --help");
            return 2;
        }
        return await parsed.InvokeAsync();
    }

    private static Command ImportCommand()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The catalog file" };
        var format = new Option<string>("--format", "-f") { Description = "cvrf | mssecure | patch | kev", Required = true };
        format.AcceptOnlyFromAmong(CatalogFormats.All.ToArray());
        var command = new Command("import", "Import a catalog file without starting the web server; prints the import's result as JSON.") { file, format };
        Host(command, async (app, result, ct) =>
        {
            var path = result.GetValue(file)!;
            if (!path.Exists) return Fail(2, $"File not found: {path.FullName}");
            var options = app.Services.GetRequiredService<CatalogImportOptions>();
            // A file over the limit is refused by the importer with its usual message; reading more than that is pointless.
            var content = path.Length > options.MaxBytes ? new byte[options.MaxBytes + 1] : await File.ReadAllBytesAsync(path.FullName, ct);
            await using var scope = app.Services.CreateAsyncScope();
            var imported = await scope.ServiceProvider.GetRequiredService<CatalogImporter>()
                .ImportAsync(new ImportCatalog(content, result.GetValue(format)!, "command line", Actor.CommandLine(), path.Name), ct);
            Console.WriteLine(JsonSerializer.Serialize(imported, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
            if (imported.EventsAppended > 0 && imported.Format != "kev")
            {
                await Patch.Projections.ReadModelSchema.EnsureAsync(scope.ServiceProvider.GetRequiredService<Npgsql.NpgsqlDataSource>(),
                    scope.ServiceProvider.GetRequiredService<Marten.IDocumentStore>(), ct);
                var runner = scope.ServiceProvider.GetRequiredService<ServerTasks.ServerTaskRunner>();
                var analysis = await runner.StartAsync(Compliance.FleetAnalysisTask.TaskName, "catalog import (command line)",
                    Actor.ServerTask(Compliance.FleetAnalysisTask.TaskName), new Dictionary<string, string>(), ct);
                await runner.WaitAsync(analysis!.RunId, ct);
            }
            return imported.Status == ServerTaskStatus.Failed ? 1 : 0;
        });
        return command;
    }

    private static Command ExportCommand()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "The archive to write (gzip-compressed JSON lines)" };
        var packages = new Option<bool>("--packages") { Description = "Also carry the package store's files (by their SHA-256)" };
        var withoutSecrets = new Option<bool>("--without-secrets") { Description = "Leave out password, token and agent credential hashes and the Data Protection key ring" };
        var command = new Command("export", "Write the whole store (every event with its metadata and order, the key ring, optionally the packages) to a portable archive.")
            { file, packages, withoutSecrets };
        Host(command, async (app, result, ct) =>
        {
            var path = result.GetValue(file)!;
            var store = app.Services.GetRequiredService<Patch.Application.Staging.StagingOptions>();
            await Patch.Projections.ReadModelSchema.EnsureAsync(app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(), app.Services.GetRequiredService<IDocumentStore>(), ct);
            var counts = await StoreArchive.ExportAsync(app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(), path.FullName, !result.GetValue(withoutSecrets),
                result.GetValue(packages) ? store.PackageDirectory : null, ct);
            Console.WriteLine(JsonSerializer.Serialize(new { file = path.FullName, counts.Streams, counts.Events, counts.Keys, counts.Packages, sensitive = counts.Secrets },
                new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
            return 0;
        });
        return command;
    }

    private static Command ImportStoreCommand()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "An archive written by 'export'" };
        var command = new Command("import-store", "Load an exported archive into an empty server, verified against its manifest, and rebuild every read model from it.") { file };
        Host(command, async (app, result, ct) =>
        {
            var path = result.GetValue(file)!;
            if (!path.Exists) return Fail(2, $"File not found: {path.FullName}");
            try
            {
                var counts = await StoreImport.ImportAsync(app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(), app.Services.GetRequiredService<IDocumentStore>(),
                    path.FullName, app.Services.GetRequiredService<Patch.Application.Staging.StagingOptions>().PackageDirectory, ct);
                Console.WriteLine(JsonSerializer.Serialize(new { file = path.FullName, counts.Streams, counts.Events, counts.Keys, counts.Packages, sensitive = counts.Secrets },
                    new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
                return 0;
            }
            catch (StoreArchiveException e)
            {
                return Fail(1, e.Message);
            }
        });
        return command;
    }

    private static Command UsersCommand()
    {
        var name = new Argument<string>("NAME") { Description = "The user name (letters, digits, '.', '-', '_', '@')" };
        var role = new Option<string>("--role") { Description = "auditor | operator | administrator", Required = true };
        role.AcceptOnlyFromAmong(Roles.All.ToArray());
        var displayName = new Option<string?>("--display-name") { Description = "The name shown in the console (default: the user name)" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from the first line of standard input (else prompt on the terminal)" };
        var mustChange = new Option<bool>("--must-change-password") { Description = "Require a new password at the first sign-in" };
        var add = new Command("add", "Create a local user.") { name, role, displayName, passwordStdin, mustChange };
        Host(add, async (app, result, ct) =>
        {
            if (ReadPassword(result.GetValue(passwordStdin)) is not { } password) return 2;
            var (user, rejection) = await app.Services.GetRequiredService<UserAccounts>().CreateAsync(Actor.CommandLine(), result.GetValue(name), result.GetValue(displayName),
                result.GetValue(role), password, result.GetValue(mustChange), ct);
            if (rejection is not null) return Fail(1, $"{rejection.Title}: {rejection.Detail}");
            Console.WriteLine($"Created {user!.Role} '{user.UserName}'.");
            return 0;
        });

        var setName = new Argument<string>("NAME") { Description = "The user name" };
        var setStdin = new Option<bool>("--password-stdin") { Description = "Read the password from the first line of standard input (else prompt on the terminal)" };
        var setMustChange = new Option<bool>("--must-change-password") { Description = "Require a new password at the next sign-in" };
        var setPassword = new Command("set-password", "Set a user's password (also unlocks the account); the way back in when every administrator's password is lost.")
            { setName, setStdin, setMustChange };
        Host(setPassword, async (app, result, ct) =>
        {
            if (ReadPassword(result.GetValue(setStdin)) is not { } password) return 2;
            var (user, rejection) = await app.Services.GetRequiredService<UserAccounts>().SetPasswordAsync(Actor.CommandLine(), result.GetValue(setName)!, password,
                byUser: false, result.GetValue(setMustChange), ct);
            if (rejection is not null) return Fail(1, $"{rejection.Title}: {rejection.Detail}");
            Console.WriteLine($"Password of '{user!.UserName}' set.");
            return 0;
        });

        var list = new Command("list", "List the local users.");
        Host(list, async (app, _, ct) =>
        {
            await using var session = app.Services.GetRequiredService<Marten.IDocumentStore>().QuerySession();
            foreach (var u in await session.Query<User>().Where(u => !u.Deleted).OrderBy(u => u.UserName).ToListAsync(ct))
                Console.WriteLine($"{u.UserName}\t{u.Role}\t{(u.Enabled ? "enabled" : "disabled")}\t{u.DisplayName}");
            return 0;
        });
        return new Command("users", "Local users.") { add, setPassword, list };
    }

    private static Command TokensCommand()
    {
        var user = new Option<string>("--user") { Description = "The user the token acts for", Required = true };
        var name = new Option<string>("--name") { Description = "What the token is for", DefaultValueFactory = _ => "command line" };
        var expires = new Option<string>("--expires") { Description = "Lifetime: 30d, 12h, 90m (at most a year)", DefaultValueFactory = _ => "30d" };
        var role = new Option<string?>("--role") { Description = "A role no higher than the user's (default the user's)" };
        var create = new Command("create", "Create a personal access token; it is printed as the last line of standard output.") { user, name, expires, role };
        Host(create, async (app, result, ct) =>
        {
            if (ParseLifetime(result.GetValue(expires)!) is not { } lifetime)
                return Fail(2, $"--expires: '{result.GetValue(expires)}' is not a lifetime like 30d, 12h or 90m");
            var userId = User.StreamId(result.GetValue(user)!);
            var now = app.Services.GetRequiredService<TimeProvider>().GetUtcNow();
            var (issued, rejection) = await app.Services.GetRequiredService<UserAccounts>().CreateTokenAsync(Actor.CommandLine(), userId, result.GetValue(name),
                result.GetValue(role), now + lifetime, ct);
            if (rejection is not null) return Fail(1, $"{rejection.Title}: {rejection.Detail}");
            Console.WriteLine($"Token '{issued!.Name}' ({issued.TokenId}) for {result.GetValue(user)} with role {issued.Role}, expires {issued.ExpiresAt:u}. It is shown only now:");
            Console.WriteLine(issued.Token);
            return 0;
        });
        return new Command("tokens", "Personal access tokens.") { create };
    }

    /// <summary>Runs the action on a host built like the server's (not started), with the options the command did not know as host settings.</summary>
    private static void Host(Command command, Func<WebApplication, ParseResult, CancellationToken, Task<int>> action)
    {
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (result, ct) =>
        {
            WebApplication app;
            try
            {
                app = PatchApp.CreateBuilder(result.UnmatchedTokens.ToArray(), logToStandardError: true).Build();
                app.Services.GetRequiredService<PatchDatabase>();
            }
            catch (PatchDatabaseException e)
            {
                return Fail(3, e.Message);
            }
            catch (InvalidOperationException e) when (e.Message.StartsWith("Invalid configuration", StringComparison.Ordinal))
            {
                return Fail(2, e.Message);
            }
            await using (app) return await action(app, result, ct);
        });
    }

    private static string? ReadPassword(bool fromStdin)
    {
        if (fromStdin)
        {
            var line = Console.In.ReadLine();
            if (line is null) Fail(2, "--password-stdin: standard input is empty");
            return line;
        }
        if (Console.IsInputRedirected)
        {
            Fail(2, "No terminal to ask for the password on: pipe it in with --password-stdin.");
            return null;
        }
        var first = Prompt("Password: ");
        if (first != Prompt("Password again: "))
        {
            Fail(2, "The two passwords differ.");
            return null;
        }
        return first;
    }

    private static string Prompt(string label)
    {
        Console.Error.Write(label);
        var text = new System.Text.StringBuilder();
        for (var key = Console.ReadKey(intercept: true); key.Key != ConsoleKey.Enter; key = Console.ReadKey(intercept: true))
        {
            if (key.Key == ConsoleKey.Backspace) { if (text.Length > 0) text.Length--; }
            else text.Append(key.KeyChar);
        }
        Console.Error.WriteLine();
        return text.ToString();
    }

    public static TimeSpan? ParseLifetime(string text)
    {
        text = text.Trim();
        if (text.Length < 2 || !int.TryParse(text[..^1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1)
            return null;
        return char.ToLowerInvariant(text[^1]) switch
        {
            'd' => TimeSpan.FromDays(n),
            'h' => TimeSpan.FromHours(n),
            'm' => TimeSpan.FromMinutes(n),
            _ => null,
        };
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine(message);
        return code;
    }
}
