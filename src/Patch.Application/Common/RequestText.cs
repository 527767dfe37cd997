using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Patch.Application.Common;

/// <summary>An endpoint that checks its own body's text (a catalog import keeps a failed run record of its refusal).</summary>
public sealed record ChecksOwnBodyText;

/// <summary>
/// No text Patch keeps or looks up may hold a C0 control character other than tab, LF and CR: a NUL fails inside
/// PostgreSQL (as a 500, half-way through a request) and the others are never meaningful in a name, a path or a field.
/// This refuses them at the door, naming where they are — in the path, in a query parameter, or at a JSON path of the body —
/// and refuses a JSON body that is not UTF-8.
/// </summary>
public static class RequestText
{
    /// <summary>
    /// The most characters any text of a JSON request may hold — a policy's description, a rule, a URL have tighter limits of
    /// their own; this one keeps any other field from carrying megabytes into the event log, every history and the audit.
    /// </summary>
    public const int MaxTextLength = 65_536;

    public static TBuilder ChecksOwnBody<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ChecksOwnBodyText());

    /// <summary>
    /// The path and a form body, checked before anything reads them (routing's 404, the antiforgery's read of a form): %-escapes
    /// that are no UTF-8, C0 control characters. Runs once the route's body limit is set.
    /// </summary>
    public static async Task InvokeEarlyAsync(HttpContext http, RequestDelegate next)
    {
        var problem = InPath(http.Request);
        if (problem is null && IsForm(http.Request))
        {
            // A form (the console's sign-in) is %-escaped UTF-8 too: escapes that are none would be read as U+FFFD.
            http.Request.EnableBuffering();
            using var copy = new MemoryStream();
            await http.Request.Body.CopyToAsync(copy, http.RequestAborted);
            http.Request.Body.Position = 0;
            var bytes = copy.GetBuffer().AsSpan(0, (int)copy.Length);
            var form = System.Text.Unicode.Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : null;
            if (form is null || !PercentDecodedIsUtf8(form))
                problem = ("Not UTF-8", "The form is not UTF-8 (its bytes, or its %-escapes once decoded): send its text encoded as UTF-8.");
            else if (Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery("?" + form) is var fields
                     && fields.SelectMany(f => f.Value.Select(v => (f.Key, Value: v ?? ""))).FirstOrDefault(f => ControlAt(f.Key) >= 0 || ControlAt(f.Value) >= 0) is { Key: { } field } bad)
                problem = ControlAt(field) >= 0 ? Control("a form field's name", field, ControlAt(field)) : Control($"form field '{Printable(field)}'", bad.Value, ControlAt(bad.Value));
        }
        await (problem is { } p ? Results.Problem(title: p.Title, detail: p.Detail, statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http) : next(http));
    }

    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var problem = InQuery(http.Request);
        if (problem is null && IsJson(http.Request) && http.GetEndpoint()?.Metadata.GetMetadata<ChecksOwnBodyText>() is null)
        {
            // JSON is UTF-8 (RFC 8259): a body declared in another charset would be transcoded past this check.
            if (Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type) && type.Charset.HasValue
                && !type.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !type.Charset.Equals("utf8", StringComparison.OrdinalIgnoreCase))
            {
                await Results.Problem(title: "Unsupported charset", detail: $"JSON bodies are UTF-8; this one declares charset={type.Charset}.",
                    statusCode: StatusCodes.Status415UnsupportedMediaType).ExecuteAsync(http);
                return;
            }
            // Kept in memory up to a megabyte (an agent's inventory), not in a temporary file per request.
            http.Request.EnableBuffering(bufferThreshold: 1024 * 1024);
            using var copy = new MemoryStream();
            await http.Request.Body.CopyToAsync(copy, http.RequestAborted);
            http.Request.Body.Position = 0;
            problem = InJson(copy.GetBuffer().AsSpan(0, (int)copy.Length));
        }
        await (problem is { } p ? Results.Problem(title: p.Title, detail: p.Detail, statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http) : next(http));
    }

    /// <summary>The first C0 control character (not tab, LF, CR) in the text, or -1.</summary>
    public static int ControlAt(ReadOnlySpan<char> text)
    {
        for (var i = 0; i < text.Length; i++)
            if (text[i] < ' ' && text[i] is not ('\t' or '\n' or '\r')) return i;
        return -1;
    }

    private static (string Title, string Detail)? Control(string where, string text, int at) =>
        ("Control character in text", $"{where}: a control character (U+{(int)text[at]:X4}) at position {at + 1}; text never carries C0 control characters other than tab, LF and CR.");

    private static (string Title, string Detail)? InPath(HttpRequest request)
    {
        // %-escapes that are no UTF-8 (/computers/%FF) stay in the decoded path as written: a name nobody has.
        // Kestrel gives the target as sent; a host that does not (the test server) leaves such escapes in the path it decoded.
        var raw = (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget is { Length: > 0 } target ? target : request.Path.Value ?? "")
            .Split('?', 2)[0];
        if (BrokenEscape(raw) is { } broken)
            return ("Not URL-encoded", $"The request path has '{Printable(broken)}', a '%' not followed by two hexadecimal digits: write a '%' itself as %25.");
        if (!PercentDecodedIsUtf8(raw))
            return ("Not UTF-8", "The request path is not UTF-8 once its %-escapes are decoded (RFC 3986): send its text encoded as UTF-8.");
        var path = request.Path.Value ?? "";
        var at = ControlAt(path);
        return at < 0 ? null : Control("the request path", path, at);
    }

    /// <summary>What is wrong with the query's text (a broken escape, bytes that are no UTF-8, a control character), or null; the console's pages show it as a page.</summary>
    public static (string Title, string Detail)? InQuery(HttpRequest request)
    {
        if (!request.QueryString.HasValue) return null;
        // A '%' that starts no escape (?q=%zz, ?q=%) would be kept as written: RFC 3986 has no such query.
        if (BrokenEscape(request.QueryString.Value!) is { } broken)
            return ("Not URL-encoded", $"The query string has '{Printable(broken)}', a '%' not followed by two hexadecimal digits: write a '%' itself as %25.");
        // %-escapes that are no UTF-8 (?q=%C3%28) decode to U+FFFD: a search for a character nobody typed.
        if (!PercentDecodedIsUtf8(request.QueryString.Value!))
            return ("Not UTF-8", "The query string is not UTF-8 once its %-escapes are decoded (RFC 3986): send its text encoded as UTF-8.");
        foreach (var (key, values) in request.Query)
        {
            var at = ControlAt(key);
            if (at >= 0) return Control("a query parameter's name", key, at);
            foreach (var value in values)
                if (value is not null && ControlAt(value) is var v and >= 0) return Control($"query parameter '{Printable(key)}'", value, v);
        }
        return null;
    }

    /// <summary>The first '%' with what follows it when it does not start a %XX escape; null when every one does.</summary>
    private static string? BrokenEscape(string text)
    {
        for (var at = text.IndexOf('%'); at >= 0; at = text.IndexOf('%', at + 1))
            if (at + 2 >= text.Length || !Uri.IsHexDigit(text[at + 1]) || !Uri.IsHexDigit(text[at + 2]))
                return text.Substring(at, Math.Min(3, text.Length - at));
        return null;
    }

    private static bool PercentDecodedIsUtf8(string query)
    {
        if (!query.Contains('%')) return true;
        var bytes = new List<byte>(query.Length);
        for (var i = 0; i < query.Length; i++)
        {
            if (query[i] == '%' && i + 2 < query.Length && byte.TryParse(query.AsSpan(i + 1, 2), System.Globalization.NumberStyles.HexNumber, null, out var b))
            {
                bytes.Add(b);
                i += 2;
            }
            else bytes.AddRange(Encoding.UTF8.GetBytes(query[i].ToString()));
        }
        return System.Text.Unicode.Utf8.IsValid(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    private static bool IsForm(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);

    private static bool IsJson(HttpRequest request) =>
        request.ContentType is { } type && (type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) || type.Contains("+json", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Refuses a body that is not UTF-8, any string (name or value) holding an escaped control character and any value of more
    /// than <paramref name="maxTextLength"/> characters, naming its JSON path.
    /// </summary>
    public static (string Title, string Detail)? InJson(ReadOnlySpan<byte> body, int maxTextLength = MaxTextLength)
    {
        // Past a UTF-8 byte order mark, which the model binder skips but this reader does not (it would stop at it, checking nothing).
        if (body.StartsWith(Encoding.UTF8.Preamble)) body = body[3..];
        if (!System.Text.Unicode.Utf8.IsValid(body))
            return ("Not UTF-8", "The JSON body is not valid UTF-8 (RFC 8259): send it encoded as UTF-8.");
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 256, CommentHandling = JsonCommentHandling.Skip });
        // Where the reader is: per level, the property name just read (objects) or how many elements were seen (arrays).
        // The printable path is made only for a refusal: every request's body passes through here.
        var path = new List<Level>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        Advance(path);
                        path.Add(new Level(-1, 0, reader.TokenType == JsonTokenType.StartArray ? 0 : -1));
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        path.RemoveAt(path.Count - 1);
                        break;
                    case JsonTokenType.PropertyName:
                        // An escaped name is read (a bad escape refuses before it joins the path); where the name is in the
                        // body, quotes included, is kept: it is made a string only for a refusal.
                        var escaped = reader.ValueIsEscaped ? reader.GetString() : null;
                        path[^1] = path[^1] with { NameAt = (int)reader.TokenStartIndex, NameLength = reader.ValueSpan.Length + 2 };
                        if (escaped is not null && ControlAt(escaped) is var n and >= 0) return Control($"the name of {Path(path, body)}", escaped, n);
                        break;
                    default:
                        Advance(path);
                        if (reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped && reader.GetString() is { } text && ControlAt(text) is var t and >= 0)
                            return Control(Path(path, body), text, t);
                        // Its bytes first (every value passes here), its characters only when they may be too many.
                        if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > maxTextLength && reader.GetString()!.Length is var length && length > maxTextLength)
                            return ("Text too long", $"{Path(path, body)}: {length} characters; a text of a request holds at most {maxTextLength}.");
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Malformed JSON is the model binder's to refuse, with its own message.
        }
        catch (InvalidOperationException)
        {
            // An escape that is no character (an unpaired surrogate, "\uD800"): the reader cannot make a string of it.
            return ("Invalid text", $"{Path(path, body)}: a \\u escape that is not a character (an unpaired surrogate).");
        }
        return null;
    }

    /// <summary>One level of the JSON path: where an object's last property name is in the body (-1: none yet), or an array's count of elements seen (-1: an object).</summary>
    private readonly record struct Level(int NameAt, int NameLength, int Seen);

    // A value inside an array is its next element; a value inside an object sits at the property name just read.
    private static void Advance(List<Level> path)
    {
        if (path.Count == 0 || path[^1].Seen < 0) return;
        path[^1] = path[^1] with { Seen = path[^1].Seen + 1 };
    }

    private static string Path(List<Level> path, ReadOnlySpan<byte> body)
    {
        var text = new StringBuilder("$");
        foreach (var level in path)
        {
            if (level.Seen > 0) text.Append('[').Append(level.Seen - 1).Append(']');
            else if (level.NameAt >= 0)
            {
                var name = new Utf8JsonReader(body.Slice(level.NameAt, level.NameLength));
                name.Read();
                text.Append('.').Append(Printable(name.GetString()!));
            }
        }
        return text.ToString();
    }

    private static string Printable(string text) => Domain.Users.UserDecisions.Printable(text);
}
