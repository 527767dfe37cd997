using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Patch.Application.Common;

/// <summary>An uploaded file (catalog, replication bundle): the request body, or the multipart form field 'file'; the route enforces its own size limit.</summary>
public static class UploadedFile
{
    /// <summary>Why an upload could not be read, in the API's words (a truncated multipart body's .NET text says nothing to a caller).</summary>
    public static string Describe(Exception e) => e.Message.StartsWith("Unexpected end of Stream", StringComparison.Ordinal)
        ? "the multipart body ends before its closing boundary (cut short?)"
        : e.Message;

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
            var file = form.Files.FirstOrDefault();
            if (file is null) return (null, null);
            if (file.Name != "file") throw new InvalidDataException($"its file is in the field '{ServerTaskRecorder.Printable(file.Name)}'; send it in the field 'file'");
            if (RequestText.ControlAt(file.FileName) is var at and >= 0)
                throw new InvalidDataException($"its file name holds the control character U+{(int)file.FileName[at]:X4}; name the file without it");
            source = file.OpenReadStream();
            fileName = Path.GetFileName(file.FileName);
        }
        else
        {
            // The file is read from its own bytes (a byte order mark, an XML declaration); a charset saying otherwise is refused.
            if (Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type) && type.Charset.HasValue
                && type.Charset.Value!.Trim('"').ToLowerInvariant() is not ("utf-8" or "utf8" or "us-ascii" or "utf-16" or "utf-16le" or "utf-16be") and var charset)
                throw new InvalidDataException($"its Content-Type says charset={ServerTaskRecorder.Printable(charset)}; files are read as UTF-8 or UTF-16 (by their byte order mark): convert the file, or leave the charset out");
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
