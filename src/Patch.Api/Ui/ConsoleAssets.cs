using System.Security.Cryptography;

namespace Patch.Api.Ui;

/// <summary>The console's own files under wwwroot, addressed with a hash of their content, so browsers keep them until they change.</summary>
public sealed class ConsoleAssets
{
    /// <summary>The console's files: wwwroot beside the binaries (copied there by the build).</summary>
    public static readonly Microsoft.Extensions.FileProviders.PhysicalFileProvider Files =
        new(Path.Combine(AppContext.BaseDirectory, "wwwroot"));

    private readonly Dictionary<string, string> _urls = new(StringComparer.Ordinal);

    public string Url(string path)
    {
        lock (_urls)
        {
            if (_urls.TryGetValue(path, out var url)) return url;
            var file = Files.GetFileInfo(path);
            var version = "0";
            if (file.Exists)
            {
                using var stream = file.CreateReadStream();
                version = Convert.ToHexStringLower(SHA256.HashData(stream))[..12];
            }
            return _urls[path] = $"/{path}?v={version}";
        }
    }
}
