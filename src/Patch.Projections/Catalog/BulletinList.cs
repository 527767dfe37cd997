using Npgsql;

namespace Patch.Projections.Catalog;

/// <summary>
/// The Patch Remediation Center's list (C2) as one narrow row per bulletin with every column the list shows, sorts and
/// filters on — including the cross-bulletin facts that used to be joined on every request: the bulletins that
/// supersede it, whether one of its CVEs is known exploited (and the earliest due date), the active policies that
/// distribute it (ADR 0029). Kept by triggers in the same transaction as the documents it derives from
/// (<see cref="PatchProjections.BulletinRowTable"/>, the KEV entries, the policies), so it is exactly as current as they
/// are once that transaction commits — written bulletin rows are derived together at commit, by a deferred trigger that fires once —
/// and rebuilt with them: a rebuild replays the bulletin rows and the triggers derive the list again. Only what
/// changed is derived again: a revised supersedence list touches the bulletins it names, a KEV entry the bulletins
/// listing its CVE, a policy the bulletins it names.
/// </summary>
public static class BulletinList
{
    private const string S = ReadModels.Schema;
    public const string Table = "bulletin_list";
    private const string L = $"{S}.{Table}";
    private const string Rows = $"{S}.{PatchProjections.BulletinRowTable}";
    private const string Kev = $"{S}.{PatchProjections.KnownExploitedTable}";
    private const string Policies = $"{S}.{PatchProjections.PolicyTable}";

    /// <summary>A bulletin's key among the ones another supersedes: vendor and number (a superseded bulletin may not be imported).</summary>
    private const string Key = @"(vendor || E'\x1f' || bulletin)";

    /// <summary>The list's own columns, read from the bulletin row documents (<c>n</c>: the document rows).</summary>
    private const string Columns =
        "id, bulletin, vendor, severity, custom_severity, staged, updates, downloaded, excluded_updates, failed_downloads, unresolved, released, revised, title, description, cves, cve_count, families, supersedes";

    /// <summary>
    /// The list's columns of the bulletin row documents (<c>n</c>) matching <paramref name="where"/>: each document is
    /// read into a record once (not detoasted and parsed again for every field).
    /// </summary>
    private static string FromDocuments(string where) => $"""
        select n.id, r.number, r.vendor, r."severityRank", r."customSeverityId", r.staged, r.updates, r.downloaded, r."excludedUpdates",
          r."failedDownloads", coalesce(r.unresolved, 0), r.released, r.revised, r.title, r.description,
          coalesce((select jsonb_agg(upper(btrim(c))) from jsonb_array_elements_text(r.cves) c), '[]'::jsonb), coalesce(r."cveCount", 0),
          coalesce(array(select jsonb_array_elements_text(r.families)), array[]::text[]),
          coalesce(array(select jsonb_array_elements_text(r.supersedes)), array[]::text[])
        from {Rows} n cross join lateral jsonb_to_record(n.data) as r(number text, vendor text, "severityRank" int, "customSeverityId" text,
          staged boolean, updates int, downloaded int, "excludedUpdates" int, "failedDownloads" int, unresolved int, released timestamptz,
          revised timestamptz, title text, description text, cves jsonb, "cveCount" int, families jsonb, supersedes jsonb)
        where {where}
        """;

    public static readonly string Ddl = $"""
        create table if not exists {L} (
            id text primary key, bulletin text not null, vendor text not null, severity int not null, custom_severity text, staged boolean not null,
            updates int not null, downloaded int not null, excluded_updates int not null, failed_downloads int not null, unresolved int not null,
            released timestamptz, revised timestamptz, title text not null, description text, cves jsonb not null, cve_count int not null,
            families text[] not null, supersedes text[] not null, superseded_by text[] not null default array[]::text[],
            superseded boolean generated always as (cardinality(superseded_by) > 0) stored,
            policies int not null default 0, known_exploited boolean not null default false, kev_due date);
        create index if not exists ix_bulletin_list_released on {L} (released desc nulls last, bulletin);
        create index if not exists ix_bulletin_list_number on {L} (bulletin);
        create index if not exists ix_bulletin_list_key on {L} ({Key});
        -- Room on every page, so the cross-bulletin columns (superseded by, known exploited, policies: none indexed) are
        -- updated in place (HOT) without new entries in the indexes.
        alter table {L} set (fillfactor = 70);
        -- GIN indexes collect new entries in a pending list (fastupdate), merged in bulk at the end of every change of
        -- the list (bulletin_list_merge): an entry at a time costs up to a millisecond per row in the trigram indexes,
        -- and a pending list left to vacuum would be scanned by every search until then.
        create index if not exists ix_bulletin_list_supersedes on {L} using gin (supersedes);
        create index if not exists ix_bulletin_list_cves on {L} using gin (cves);
        alter index {S}.ix_bulletin_list_supersedes set (fastupdate = on);
        alter index {S}.ix_bulletin_list_cves set (fastupdate = on);
        -- The keyword search (number, title, description: ilike '%…%') by trigram indexes where pg_trgm can be had. A
        -- description by GiST (one entry per row; a CVRF bulletin's description names every CVE it fixes with its title,
        -- hundreds of trigrams: in GIN, the largest cost of an import), number and title by GIN (ADR 0045).
        drop index if exists {S}.ix_bulletin_list_description_trgm;
        {ReadModels.TrigramIndexes("the keyword search", ("ix_bulletin_list_title_trgm", L, "title", ReadModels.Trigrams.GinPending),
            ("ix_bulletin_list_description_gist", L, "description", ReadModels.Trigrams.Gist),
            ("ix_bulletin_list_bulletin_trgm", L, "bulletin", ReadModels.Trigrams.GinPending))}

        -- The pending entries of the list's GIN indexes, merged into them in bulk.
        create or replace function {S}.bulletin_list_merge() returns void language plpgsql as $$
        begin
          perform gin_clean_pending_list(i.indexrelid::regclass) from pg_index i join pg_class c on c.oid = i.indexrelid
            join pg_am a on a.oid = c.relam where i.indrelid = '{L}'::regclass and a.amname = 'gin';
        end $$;

        -- The bulletins that supersede each of these (by id, or named by key), ordered by number.
        -- Without JIT, whatever the server's setting (ADR 0050): on a store holding years of catalogs its estimate passed
        -- jit_above_cost and each import's commit spent ≈ 10 ms compiling it (16 ms against 5.5 for a month's bulletins).
        create or replace function {S}.bulletin_list_superseded_by(ids text[], keys text[]) returns void language plpgsql set jit = off as $$
        begin
          update {L} t set superseded_by = s.numbers
          from (select x.id, array(select s.bulletin from {L} s where s.vendor = x.vendor and s.supersedes @> array[x.bulletin] order by s.bulletin) numbers
                from {L} x where x.id = any(ids) or {Key} = any(keys)) s
          where t.id = s.id and t.superseded_by is distinct from s.numbers;
        end $$;

        -- Known exploited: one of the bulletin's CVEs has a KEV entry; its due date is the earliest of them.
        create or replace function {S}.bulletin_list_known_exploited(ids text[]) returns void language plpgsql as $$
        begin
          update {L} t set known_exploited = k.listed, kev_due = k.due
          from (select x.id, count(kd.id) > 0 listed, min((kd.data->'facts'->>'dueDate')::date) due
                from {L} x left join lateral jsonb_array_elements_text(x.cves) c(cve) on true
                left join {Kev} kd on kd.id = 'cve:' || c.cve
                where x.id = any(ids) group by x.id) k
          where t.id = k.id and (t.known_exploited, t.kev_due) is distinct from (k.listed, k.due);
        end $$;

        -- The active policies that distribute each bulletin.
        create or replace function {S}.bulletin_list_policies(ids text[]) returns void language plpgsql as $$
        begin
          update {L} t set policies = p.n
          from (select x.id, (select count(*)::int from {Policies} p
                              where p.data @> jsonb_build_object('bulletins', jsonb_build_array(x.id), 'status', 'Active')) n
                from {L} x where x.id = any(ids)) p
          where t.id = p.id and t.policies <> p.n;
        end $$;

        -- Bulletin rows written (a Marten upsert: one statement per document) are noted for the end of their transaction,
        -- where they are derived once, together: an import writes hundreds of rows, one statement each. The first note
        -- of a transaction also leaves its mark, whose deferred trigger fires once, at commit. Unlogged: what is noted
        -- lives only until its transaction ends.
        create unlogged table if not exists {S}.bulletin_list_pending (tx bigint not null, id text not null, primary key (tx, id));
        create unlogged table if not exists {S}.bulletin_list_marks (tx bigint primary key);
        create or replace function {S}.bulletin_list_note() returns trigger language plpgsql as $$
        begin
          insert into {S}.bulletin_list_pending (tx, id) values (txid_current(), new.id) on conflict do nothing;
          insert into {S}.bulletin_list_marks (tx) values (txid_current()) on conflict do nothing;
          return null;
        end $$;

        create or replace function {S}.bulletin_list_settle() returns trigger language plpgsql as $$
        declare
          ids text[];
        begin
          delete from {S}.bulletin_list_marks where tx = new.tx;
          with taken as (delete from {S}.bulletin_list_pending where tx = new.tx returning id) select array(select id from taken) into ids;
          if cardinality(ids) > 0 then perform {S}.bulletin_list_derive(ids); end if;
          return null;
        end $$;

        -- These bulletins' rows as their documents now are: the list's own columns, then what changed across bulletins
        -- (the list still holds what it derived before, so a changed supersedence list also re-derives the bulletins
        -- it named).
        create or replace function {S}.bulletin_list_derive(ids text[]) returns void language plpgsql set jit = off as $$
        declare
          added text[]; cves_changed text[]; keys text[];
        begin
          with fresh ({Columns}) as ({FromDocuments("n.id = any(ids)")}),
               o as (select l.id, l.vendor, l.supersedes, l.cves from {L} l where l.id = any(ids)),
               up as (
                 insert into {L} as l ({Columns}) select * from fresh
                 on conflict (id) do update set bulletin = excluded.bulletin, vendor = excluded.vendor, severity = excluded.severity,
                   custom_severity = excluded.custom_severity, staged = excluded.staged, updates = excluded.updates, downloaded = excluded.downloaded,
                   excluded_updates = excluded.excluded_updates, failed_downloads = excluded.failed_downloads, unresolved = excluded.unresolved,
                   released = excluded.released, revised = excluded.revised, title = excluded.title, description = excluded.description, cves = excluded.cves,
                   cve_count = excluded.cve_count, families = excluded.families, supersedes = excluded.supersedes
                 where ({string.Join(", ", Columns.Split(", ").Skip(1).Select(c => "l." + c))}) is distinct from
                       ({string.Join(", ", Columns.Split(", ").Skip(1).Select(c => "excluded." + c))})
                 returning 1)
          select array(select f.id from fresh f where not exists (select 1 from o where o.id = f.id)),
                 array(select f.id from fresh f join o on o.id = f.id where o.cves is distinct from f.cves),
                 array(select distinct k from (
                   select f.vendor || E'\x1f' || s from fresh f left join o on o.id = f.id, unnest(f.supersedes) s
                     where o.id is null or o.supersedes is distinct from f.supersedes or o.vendor is distinct from f.vendor
                   union all
                   select o.vendor || E'\x1f' || s from o join fresh f on f.id = o.id, unnest(o.supersedes) s
                     where o.supersedes is distinct from f.supersedes or o.vendor is distinct from f.vendor) x(k))
          into added, cves_changed, keys
          from (select count(*) from up) written;
          if cardinality(added) > 0 or cardinality(keys) > 0 then perform {S}.bulletin_list_superseded_by(added, keys); end if;
          if cardinality(added) + cardinality(cves_changed) > 0 then perform {S}.bulletin_list_known_exploited(added || cves_changed); end if;
          if cardinality(added) > 0 then perform {S}.bulletin_list_policies(added); end if;
          perform {S}.bulletin_list_merge();
        end $$;

        create or replace function {S}.bulletin_list_rows_deleted() returns trigger language plpgsql as $$
        declare
          keys text[];
        begin
          keys := array(select distinct l.vendor || E'\x1f' || s from {L} l, unnest(l.supersedes) s where l.id in (select id from old_rows));
          delete from {L} where id in (select id from old_rows);
          if cardinality(keys) > 0 then perform {S}.bulletin_list_superseded_by(array[]::text[], keys); end if;
          return null;
        end $$;

        create or replace function {S}.bulletin_list_rows_truncated() returns trigger language plpgsql as $$
        begin
          truncate {L};
          return null;
        end $$;

        -- KEV entries written or removed: the bulletins listing their CVEs.
        create or replace function {S}.bulletin_list_kev_changed() returns trigger language plpgsql as $$
        begin
          if TG_OP = 'TRUNCATE' then
            update {L} set known_exploited = false, kev_due = null where known_exploited or kev_due is not null;
          else
            perform {S}.bulletin_list_known_exploited(array(select l.id from {L} l
              where l.cves ?| array(select substr(c.id, 5) from changed_rows c)));
          end if;
          perform {S}.bulletin_list_merge();
          return null;
        end $$;

        -- Policies written or removed: the bulletins they name, before and after.
        create or replace function {S}.bulletin_list_policy_changed() returns trigger language plpgsql as $$
        begin
          if TG_OP = 'TRUNCATE' then
            update {L} set policies = 0 where policies <> 0;
          else
            perform {S}.bulletin_list_policies(array(select distinct b from changed_rows c, jsonb_array_elements_text(c.data->'bulletins') b));
          end if;
          perform {S}.bulletin_list_merge();
          return null;
        end $$;
        """;

    /// <summary>The triggers, on tables Marten creates (so after them).</summary>
    private static readonly string Triggers = $"""
        drop trigger if exists tr_bulletin_list_insert on {Rows};
        drop trigger if exists tr_bulletin_list_update on {Rows};
        create or replace trigger tr_bulletin_list_note after insert or update on {Rows}
          for each row execute function {S}.bulletin_list_note();
        drop trigger if exists tr_bulletin_list_settle on {Rows};
        drop trigger if exists tr_bulletin_list_settle on {S}.bulletin_list_marks;
        create constraint trigger tr_bulletin_list_settle after insert on {S}.bulletin_list_marks deferrable initially deferred
          for each row execute function {S}.bulletin_list_settle();
        drop function if exists {S}.bulletin_list_from_rows();
        create or replace trigger tr_bulletin_list_delete after delete on {Rows} referencing old table as old_rows
          for each statement execute function {S}.bulletin_list_rows_deleted();
        create or replace trigger tr_bulletin_list_truncate after truncate on {Rows}
          for each statement execute function {S}.bulletin_list_rows_truncated();
        create or replace trigger tr_bulletin_list_kev_insert after insert on {Kev} referencing new table as changed_rows
          for each statement execute function {S}.bulletin_list_kev_changed();
        create or replace trigger tr_bulletin_list_kev_update after update on {Kev} referencing new table as changed_rows
          for each statement execute function {S}.bulletin_list_kev_changed();
        create or replace trigger tr_bulletin_list_kev_delete after delete on {Kev} referencing old table as changed_rows
          for each statement execute function {S}.bulletin_list_kev_changed();
        create or replace trigger tr_bulletin_list_kev_truncate after truncate on {Kev}
          for each statement execute function {S}.bulletin_list_kev_changed();
        create or replace trigger tr_bulletin_list_policy_insert after insert on {Policies} referencing new table as changed_rows
          for each statement execute function {S}.bulletin_list_policy_changed();
        create or replace trigger tr_bulletin_list_policy_update_new after update on {Policies} referencing new table as changed_rows
          for each statement execute function {S}.bulletin_list_policy_changed();
        create or replace trigger tr_bulletin_list_policy_update_old after update on {Policies} referencing old table as changed_rows
          for each statement execute function {S}.bulletin_list_policy_changed();
        create or replace trigger tr_bulletin_list_policy_delete after delete on {Policies} referencing old table as changed_rows
          for each statement execute function {S}.bulletin_list_policy_changed();
        create or replace trigger tr_bulletin_list_policy_truncate after truncate on {Policies}
          for each statement execute function {S}.bulletin_list_policy_changed();
        """;

    /// <summary>
    /// Derives the whole list from the documents, set-based: at the first start of a store that had bulletins before the
    /// list existed, and whenever the list and the documents disagree in number (never, while the triggers keep it).
    /// </summary>
    private static readonly string Fill = $"""
        truncate {L};
        insert into {L} ({Columns}) {FromDocuments("true")};
        update {L} t set superseded_by = s.numbers
        from (select l.vendor, x.number, array_agg(l.bulletin order by l.bulletin) numbers from {L} l, unnest(l.supersedes) x(number) group by 1, 2) s
        where t.vendor = s.vendor and t.bulletin = s.number;
        select {S}.bulletin_list_known_exploited(array(select id from {L} where cve_count > 0));
        select {S}.bulletin_list_policies(array(select distinct b from {Policies} p, jsonb_array_elements_text(p.data->'bulletins') b));
        select {S}.bulletin_list_merge();
        analyze {L};
        """;

    public static async Task EnsureAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand($"select pg_advisory_xact_lock(hashtext('patch.bulletin_list'));\n{Ddl}\n{Triggers}", conn, tx))
            await cmd.ExecuteNonQueryAsync(ct);
        await using (var check = new NpgsqlCommand($"select (select count(*) from {L}) = (select count(*) from {Rows})", conn, tx))
        {
            if (!(bool)(await check.ExecuteScalarAsync(ct))!)
            {
                await using var fill = new NpgsqlCommand(Fill, conn, tx);
                await fill.ExecuteNonQueryAsync(ct);
            }
        }
        await tx.CommitAsync(ct);
    }
}
