using System.Text;
using Patch.Application.Common;

namespace Patch.Api.Tests.Hosting;

/// <summary>A control character in a JSON body is refused naming its JSON path, at any depth, in names and values.</summary>
public class when_a_json_body_holds_a_control_character
{
    [Theory]
    [InlineData("""{"a":[1,{"b":"x\u0000"}]}""", "$.a[1].b: a control character (U+0000) at position 2")]
    [InlineData("""["ok","\u0001"]""", "$[1]: a control character (U+0001)")]
    [InlineData("""{"a":[[],[{"c":2}],{"d":["\u001f"]}]}""", "$.a[2].d[0]: a control character (U+001F)")]
    [InlineData("""{"x":{"y":1},"z":"\u0007"}""", "$.z: a control character (U+0007)")]
    [InlineData("""{"a":{"k\u0002":1}}""", "the name of $.a.k\\u0002: a control character (U+0002)")]
    // Names written with escapes are named as they read, and names of every level are kept where they are in the body.
    [InlineData("""{"n\u0061me":{"caf\u00e9":[0,"\u0003"]}}""", "$.name.café[1]: a control character (U+0003)")]
    [InlineData("""{"a":1,"b":{"c":2},"d":{"e":"\u0004"}}""", "$.d.e: a control character (U+0004)")]
    public void the_refusal_names_the_json_path(string json, string expected)
    {
        var problem = RequestText.InJson(Encoding.UTF8.GetBytes(json));
        Assert.NotNull(problem);
        Assert.Equal("Control character in text", problem.Value.Title);
        Assert.StartsWith(expected, problem.Value.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void an_escape_that_is_no_character_in_a_name_is_refused_at_the_name_before_it()
    {
        var problem = RequestText.InJson(Encoding.UTF8.GetBytes("""{"a":{"k\uD800":1}}"""));
        Assert.NotNull(problem);
        Assert.Equal("Invalid text", problem.Value.Title);
        Assert.StartsWith("$.a: a \\u escape that is not a character", problem.Value.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"a":[1,{"b":"tab\tand\nlines"}],"c":"\u00e9"}""")]
    [InlineData("""[]""")]
    public void text_without_control_characters_passes(string json) => Assert.Null(RequestText.InJson(Encoding.UTF8.GetBytes(json)));
}
