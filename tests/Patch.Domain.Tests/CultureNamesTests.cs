namespace Patch.Domain.Tests;

/// <summary>Culture names as Windows writes them are names; what a probe invents is not (stop 52).</summary>
public class when_a_culture_is_named
{
    [Theory]
    [InlineData("en-US")]
    [InlineData("en-us")]
    [InlineData("de")]
    [InlineData("sr-Latn-RS")]
    [InlineData("zh-Hans-CN")]
    [InlineData("es-419")]
    [InlineData("ca-ES-valencia")]
    [InlineData("de-DE-1996")]
    [InlineData("es-ES_tradnl")]
    [InlineData("qps-ploc")]
    public void a_windows_culture_is_one(string name) => Assert.True(CultureNames.IsName(name));

    [Theory]
    [InlineData("xx-YY-ZZ-123")]
    [InlineData("zz-ZZ-bogus-9")]
    [InlineData("not a culture")]
    [InlineData("neutral")]
    [InlineData("")]
    [InlineData("e")]
    [InlineData("en-US\u0000")]
    public void an_invented_one_is_not(string name) => Assert.False(CultureNames.IsName(name));
}
