using Patch.Domain.Catalog;
using Patch.Domain.Settings;

namespace Patch.Domain.Tests;

public class when_managing_custom_severity_levels
{
    private static CustomSeverityLevels Given(params object[] events) => events.Aggregate(CustomSeverityLevels.Empty, (s, e) => e switch
    {
        CustomSeverityLevelCreated c => CustomSeverityLevels.Apply(c, s),
        CustomSeverityLevelRenamed r => CustomSeverityLevels.Apply(r, s),
        CustomSeverityLevelDeleted d => CustomSeverityLevels.Apply(d, s),
        CustomSeverityLevelsReordered o => CustomSeverityLevels.Apply(o, s),
        _ => throw new ArgumentException(e.GetType().Name),
    });

    private static readonly CustomSeverityLevels Two = Given(new CustomSeverityLevelCreated("a", "Patch now"), new CustomSeverityLevelCreated("b", "Next cycle"));

    [Fact]
    public void creating_a_level_appends_it_at_the_end() =>
        Assert.Equal([new CustomSeverityLevelCreated("c", "Watch")], CustomSeverityLevels.DecideCreate(Two, "c", " Watch ").Events);

    [Theory]
    [InlineData(null, RejectionKind.Invalid)]
    [InlineData("  ", RejectionKind.Invalid)]
    [InlineData("PATCH NOW", RejectionKind.Conflict)]
    public void names_are_required_and_unique(string? name, RejectionKind kind) =>
        Assert.Equal(kind, CustomSeverityLevels.DecideCreate(Two, "c", name).Rejection!.Kind);

    [Fact]
    public void names_are_at_most_64_characters()
    {
        Assert.False(CustomSeverityLevels.DecideCreate(Two, "c", new string('x', 64)).IsRejected);
        Assert.Equal("Name too long", CustomSeverityLevels.DecideCreate(Two, "c", new string('x', 65)).Rejection!.Title);
    }

    [Fact]
    public void renaming_to_the_same_name_is_a_no_op_and_an_unknown_level_is_not_found()
    {
        Assert.Same(Outcome.Nothing, CustomSeverityLevels.DecideRename(Two, "a", "Patch now"));
        Assert.Equal(RejectionKind.NotFound, CustomSeverityLevels.DecideRename(Two, "zz", "x").Rejection!.Kind);
        Assert.Equal(RejectionKind.Conflict, CustomSeverityLevels.DecideRename(Two, "a", "next cycle").Rejection!.Kind);
    }

    [Fact]
    public void a_level_in_use_cannot_be_deleted()
    {
        Assert.Equal(RejectionKind.Conflict, CustomSeverityLevels.DecideDelete(Two, "a", assignedBulletins: 3).Rejection!.Kind);
        Assert.Equal([new CustomSeverityLevelDeleted("a")], CustomSeverityLevels.DecideDelete(Two, "a", 0).Events);
    }

    [Fact]
    public void reordering_needs_every_level_exactly_once()
    {
        Assert.True(CustomSeverityLevels.DecideReorder(Two, ["b"]).IsRejected);
        Assert.True(CustomSeverityLevels.DecideReorder(Two, ["b", "b"]).IsRejected);
        Assert.True(CustomSeverityLevels.DecideReorder(Two, ["b", "x"]).IsRejected);
        Assert.Empty(CustomSeverityLevels.DecideReorder(Two, ["a", "b"]).Events);
        var reordered = CustomSeverityLevels.DecideReorder(Two, ["b", "a"]);
        var state = CustomSeverityLevels.Apply((CustomSeverityLevelsReordered)Assert.Single(reordered.Events), Two);
        Assert.Equal(["Next cycle", "Patch now"], state.Levels.Select(l => l.Name));
    }

    [Fact]
    public void assigning_checks_the_bulletin_and_the_level_and_repeats_are_no_ops()
    {
        var bulletin = new Bulletin("microsoft:KB1", new BulletinFacts("Microsoft", "KB1", "t", Severity.Low, null, null, null, null, [], [], []), [], null, "s");
        Assert.Equal(RejectionKind.NotFound, CustomSeverityAssignment.Assign(null, "KB1", "a", Two).Rejection!.Kind);
        Assert.Equal(RejectionKind.Invalid, CustomSeverityAssignment.Assign(bulletin, "KB1", "zz", Two).Rejection!.Kind);
        var assigned = Assert.IsType<CustomSeverityAssigned>(Assert.Single(CustomSeverityAssignment.Assign(bulletin, "KB1", "a", Two).Events));
        var state = Bulletin.Apply(assigned, bulletin);
        Assert.Empty(CustomSeverityAssignment.Assign(state, "KB1", "a", Two).Events);
        Assert.Equal(Severity.Low, state.Facts.Severity);
        Assert.Equal([new CustomSeverityCleared("microsoft:KB1", "a")], CustomSeverityAssignment.Clear(state, "KB1").Events);
        Assert.Empty(CustomSeverityAssignment.Clear(bulletin, "KB1").Events);
    }
}

public class when_changing_core_settings
{
    [Fact]
    public void cultures_are_checked_trimmed_and_deduplicated()
    {
        Assert.True(CoreSettings.Decide(null, ["english"], []).IsRejected);
        Assert.True(CoreSettings.Decide(null, null, []).IsRejected);
        Assert.True(CoreSettings.Decide(null, ["en-US"], [" "]).IsRejected);
        var changed = Assert.IsType<CoreSettingsChanged>(Assert.Single(CoreSettings.Decide(null, [" fr-FR", "en-US", "FR-fr"], ["Windows 7"]).Events));
        Assert.Equal(["fr-FR", "en-US"], changed.ManagedCultures);
        Assert.Empty(CoreSettings.Decide(CoreSettings.Default, ["en-US"], []).Events);
    }
}
