namespace Patch.Api.Tests.Infrastructure;

/// <summary>The real Microsoft/CISA/Windows files of ../shared/data (PATCH_SHARED_DATA overrides the folder).</summary>
public static class SharedData
{
    public static string Root
    {
        get
        {
            var configured = Environment.GetEnvironmentVariable("PATCH_SHARED_DATA");
            if (!string.IsNullOrEmpty(configured)) return configured;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "..", "shared", "data");
                if (Directory.Exists(Path.Combine(dir.FullName, "src")) && Directory.Exists(candidate)) return Path.GetFullPath(candidate);
            }
            throw new DirectoryNotFoundException("../shared/data was not found beside the repository; set PATCH_SHARED_DATA to its path.");
        }
    }

    public static string PathOf(string relative)
    {
        var path = Path.Combine(Root, relative);
        if (!File.Exists(path)) throw new FileNotFoundException($"Shared test data file missing: {path}");
        return path;
    }

    public static byte[] Bytes(string relative) => File.ReadAllBytes(PathOf(relative));

    public static Stream Open(string relative) => File.OpenRead(PathOf(relative));

    public static string Cvrf2023 => "msrc-cvrf/2023-Jan.xml";
    public static string Cvrf2024 => "msrc-cvrf/2024-Jan.xml";
    public static string Mssecure => "mbsa-mssecure/mssecure.xml";
    public static string Kev => "cisa-kev/known_exploited_vulnerabilities.json";

    public static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Patch.slnx"))) return Path.Combine(dir.FullName, relative);
        throw new DirectoryNotFoundException("repository root not found");
    }
}
