using System.Text.Json.Serialization.Metadata;

namespace Patch.Application.Common;

/// <summary>
/// A number, a true/false or an enumeration a request's record takes without a default is required: left out, System.Text.Json
/// would read it as 0, false or the first member — an inventory without <c>isServer</c> stored as a client at service pack 0,
/// a roll-up without <c>executed</c> counted as nothing executed. A text or a list left out is null, which each request's
/// own check refuses by name; a value with a default stays optional.
/// </summary>
public static class RequiredValues
{
    public static void Require(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object) return;
        foreach (var property in info.Properties)
            if (property.AssociatedParameter is { HasDefaultValue: false } parameter && parameter.ParameterType.IsValueType
                && Nullable.GetUnderlyingType(parameter.ParameterType) is null)
                property.IsRequired = true;
    }

    /// <summary>The resolver of <paramref name="resolver"/> (or the reflection one) with values required as above.</summary>
    public static IJsonTypeInfoResolver With(IJsonTypeInfoResolver? resolver) =>
        (resolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(Require);
}
