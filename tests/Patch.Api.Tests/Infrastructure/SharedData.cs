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

    /// <summary>Every real CVRF document: the two raw ones and the archive's .xml.gz (181 in all), in name order.</summary>
    public static IReadOnlyList<string> CvrfFiles()
    {
        var dir = Path.Combine(Root, "msrc-cvrf");
        return Directory.GetFiles(dir, "*.xml").Concat(Directory.GetFiles(Path.Combine(dir, "archive"), "*.xml.gz")).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>A CVRF document's XML, decompressed when it is an archive's .xml.gz.</summary>
    public static Stream OpenCvrf(string path)
    {
        var raw = File.OpenRead(Path.IsPathRooted(path) ? path : PathOf(path));
        return path.EndsWith(".gz", StringComparison.Ordinal) ? new System.IO.Compression.GZipStream(raw, System.IO.Compression.CompressionMode.Decompress) : raw;
    }

    public static string Cvrf2023 => "msrc-cvrf/2023-Jan.xml";
    public static string Cvrf2024 => "msrc-cvrf/2024-Jan.xml";
    public static string Mssecure => "mbsa-mssecure/mssecure.xml";
    public static string Kev => "cisa-kev/known_exploited_vulnerabilities.json";
    public static string KevCsv => "cisa-kev/known_exploited_vulnerabilities.csv";

    public static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Patch.slnx"))) return Path.Combine(dir.FullName, relative);
        throw new DirectoryNotFoundException("repository root not found");
    }
}
