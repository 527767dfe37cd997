using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Patch.Application.Common;

/// <summary>An uploaded file (catalog, replication bundle): the request body, or the multipart form field 'file'; the route enforces its own size limit.</summary>
public static class UploadedFile
{
    /// <summary>Reads at most maxBytes + 1 bytes: enough to know a file is too large without holding all of it.</summary>
    public static async Task<(byte[]? Content, string? FileName)> ReadAsync(HttpContext http, long maxBytes, CancellationToken ct)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
        Stream source;
        string? fileName = null;
        var multipart = http.Request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true;
        if (multipart)
        {
            var form = await http.Request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = maxBytes + 1024 * 1024, BufferBody = false }, ct);
            // One file and nothing else: a second file or a field beside it would be dropped in silence.
            if (form.Files.Count > 1)
                throw new InvalidDataException($"it holds {form.Files.Count} files ({string.Join(", ", form.Files.Select(f => $"'{ServerTaskRecorder.Printable(f.Name)}'"))}); send one file per request");
            if (form.Keys.FirstOrDefault() is { } field)
                throw new InvalidDataException($"it holds the form field '{ServerTaskRecorder.Printable(field)}', which this operation does not read; send the file alone (the field 'file'), options as query parameters");
            var file = form.Files["file"] ?? form.Files.FirstOrDefault();
            if (file is null) return (null, null);
            source = file.OpenReadStream();
            fileName = Path.GetFileName(file.FileName);
        }
        else
        {
            source = http.Request.Body;
        }

        await using (source)
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = await source.ReadAsync(chunk, ct)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > maxBytes) break;
            }
            // An empty body is an empty file: the importer refuses it and its run records why.
            return (buffer.ToArray(), fileName);
        }
    }
}
