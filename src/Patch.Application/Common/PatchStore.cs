namespace Patch.Application.Common;

public static class PatchStore
{
    /// <summary>The PostgreSQL schema holding Patch's events and read models.</summary>
    public const string Schema = Projections.ReadModels.Schema;
}
