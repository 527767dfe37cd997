using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.RemediationCenter;

/// <summary>
/// A store from before ADR 0045: the descriptions' trigram GIN and Marten's GIN over every bulletin row document are
/// gone after the schema step, the descriptions' GiST is there, and the keyword search answers the same.
/// </summary>
public class when_a_store_with_the_old_keyword_indexes_is_upgraded(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task the_description_is_searched_by_its_gist_index_and_the_rows_carry_no_document_gin()
    {
        var ct = TestContext.Current.CancellationToken;
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        async Task<string> IndexesAsync() => (string)(await SqlScalarAsync(
            "select string_agg(indexname || ' ' || split_part(split_part(indexdef, ' USING ', 2), ' ', 1), ', ' order by indexname) from pg_indexes " +
            "where schemaname = 'patch' and (indexname like 'ix_bulletin_list_%' or tablename = 'mt_doc_bulletin_row')"))!;
        const string Expected = "ix_bulletin_list_bulletin_trgm gin, ix_bulletin_list_cves gin, ix_bulletin_list_description_gist gist, " +
            "ix_bulletin_list_key btree, ix_bulletin_list_number btree, ix_bulletin_list_released btree, ix_bulletin_list_supersedes gin, " +
            "ix_bulletin_list_title_trgm gin, pkey_mt_doc_bulletin_row_id btree";
        Assert.Equal(Expected, await IndexesAsync());
        var before = (await GetJsonAsync("/api/bulletins?q=kerberos&pageSize=1000&sort=bulletin")).GetProperty("items").GetRawText();

        var trgm = (string)(await SqlScalarAsync("select extnamespace::regnamespace::text from pg_extension where extname = 'pg_trgm'"))!;
        await SqlScalarAsync($"""
            drop index patch.ix_bulletin_list_description_gist;
            create index ix_bulletin_list_description_trgm on patch.bulletin_list using gin (description {trgm}.gin_trgm_ops);
            create index mt_doc_bulletin_row_idx_data on patch.mt_doc_bulletin_row using gin (data jsonb_path_ops);
            """);
        await Patch.Projections.ReadModelSchema.EnsureAsync(Db, App.Store, ct);

        Assert.Equal(Expected, await IndexesAsync());
        Assert.Equal(before, (await GetJsonAsync("/api/bulletins?q=kerberos&pageSize=1000&sort=bulletin")).GetProperty("items").GetRawText());
        Assert.NotEqual("[]", before);
    }
}
