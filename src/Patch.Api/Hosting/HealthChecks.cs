using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Patch.Application.Common;

namespace Patch.Api.Hosting;

/// <summary>Ready = the database answers, the event store schema is in place, and every projection is running.</summary>
public sealed class ReadinessCheck(NpgsqlDataSource db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            await using var cmd = db.CreateCommand($"select to_regclass('{PatchStore.Schema}.mt_events') is not null and to_regclass('{PatchStore.Schema}.mt_doc_bulletin_row') is not null");
            var schemaReady = (bool)(await cmd.ExecuteScalarAsync(ct))!;
            return schemaReady
                ? HealthCheckResult.Healthy("database reachable, schema in place, inline projections run with every write")
                : HealthCheckResult.Unhealthy("the event store schema is not in place yet");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("database unreachable", e);
        }
    }
}
