using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Npgsql;
using Patch.Application.Common;

namespace Patch.Application.Security;

/// <summary>
/// The ASP.NET Core data-protection key ring, kept in PostgreSQL beside the events (ADR 0014): every API node reads the
/// same keys, so a session cookie issued by one node is read by the others, and a server restored from a backup of
/// its database still reads the cookies and protected values it issued. The interface is synchronous; the key ring
/// is read once and cached by the framework, so these calls are rare.
/// </summary>
public sealed class PostgresXmlRepository(NpgsqlDataSource db) : IXmlRepository
{
    public const string Table = $"{PatchStore.Schema}.data_protection_keys";

    public const string Ddl = $"""
        create schema if not exists {PatchStore.Schema};
        create table if not exists {Table} (id bigint generated always as identity primary key, friendly_name text not null, xml text not null,
            created_at timestamptz not null default now());
        """;

    private bool _ready;

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        Ensure();
        using var cmd = db.CreateCommand($"select xml from {Table} order by id");
        using var reader = cmd.ExecuteReader();
        var elements = new List<XElement>();
        while (reader.Read()) elements.Add(XElement.Parse(reader.GetString(0)));
        return elements;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        Ensure();
        using var cmd = db.CreateCommand($"insert into {Table} (friendly_name, xml) values ($1, $2)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = friendlyName });
        cmd.Parameters.Add(new NpgsqlParameter { Value = element.ToString(SaveOptions.DisableFormatting) });
        cmd.ExecuteNonQuery();
    }

    private void Ensure()
    {
        if (_ready) return;
        using var conn = db.OpenConnection();
        // Two nodes starting together must not race on the DDL.
        using (var tx = conn.BeginTransaction())
        {
            using var cmd = new NpgsqlCommand($"select pg_advisory_xact_lock(7260113); {Ddl}", conn, tx);
            cmd.ExecuteNonQuery();
            tx.Commit();
        }
        _ready = true;
    }
}
