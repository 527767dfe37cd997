using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Patch.Api.Hosting;

/// <summary>
/// Where Patch's PostgreSQL is: ConnectionStrings:Patch when configured, otherwise a private cluster under
/// Patch:DataDirectory that this process starts (and stops on shutdown only if it started it).
/// </summary>
public sealed class PatchDatabase : IAsyncDisposable
{
    private readonly EmbeddedPostgres? _embedded;

    private PatchDatabase(string connectionString, EmbeddedPostgres? embedded)
    {
        // Sessions in UTC: a timestamp PostgreSQL prints or Marten's own SQL derives with "at time zone 'utc'" is then the instant
        // itself, whatever the server's time zone.
        ConnectionString = Tuned(connectionString);
        _embedded = embedded;
    }

    public string ConnectionString { get; }

    /// <summary>
    /// The connection settings every part of Patch uses: sessions in UTC, and statements prepared automatically — Marten
    /// sends the same ones again and again (an event append, a document upsert per stream), and prepared once per
    /// connection PostgreSQL stops parsing and planning them (a catalog import's save ≈ 20 % faster, docs/benchmarks.md).
    /// A connection string that sets Max Auto Prepare keeps its value.
    /// </summary>
    public static string Tuned(string connectionString)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Timezone = "UTC" };
        if (builder.MaxAutoPrepare == 0) builder.MaxAutoPrepare = 100;
        return builder.ConnectionString;
    }

    public bool IsEmbedded => _embedded is not null;

    public static PatchDatabase Open(IConfiguration config, ILogger logger)
    {
        var configured = config.GetConnectionString("Patch");
        if (!string.IsNullOrWhiteSpace(configured)) return new PatchDatabase(configured, null);

        var dataDirectory = config["Patch:DataDirectory"] is { Length: > 0 } d ? d : EmbeddedPostgres.DefaultDataDirectory();
        logger.LogInformation("No ConnectionStrings:Patch configured: using the embedded PostgreSQL under {DataDirectory}", dataDirectory);
        try
        {
            var embedded = EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions
            {
                DataDirectory = dataDirectory,
                BinDirectory = config["Patch:PostgresBinDirectory"],
            }, message => logger.LogInformation("{Message}", message)).GetAwaiter().GetResult();
            return new PatchDatabase(embedded.ConnectionString, embedded);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            throw new PatchDatabaseException($"The embedded PostgreSQL could not be started: {e.Message}", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_embedded is not null) await _embedded.DisposeAsync();
    }
}

/// <summary>Patch's database could not be reached or started; the message says what to do.</summary>
public sealed class PatchDatabaseException(string message, Exception inner) : Exception(message, inner);
