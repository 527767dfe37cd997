using System.Runtime.CompilerServices;
using System.Xml;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// An XmlReader that refuses elements nested deeper than a limit. Building an XDocument costs time quadratic in the
/// nesting depth (20,000 levels: over half a second for 60 KB), so a document no catalog format could produce is refused
/// while it is read, before the tree is built.
/// </summary>
internal sealed class DepthLimitedXmlReader(XmlReader inner, int maxDepth, DepthLimitedXmlReader.Shift? shift = null) : XmlReader, IXmlLineInfo
{
    /// <summary>
    /// A piece of a larger document (<see cref="XmlPieces"/>): it starts at <paramref name="Line"/>, <paramref name="Column"/>
    /// of the whole, after a first line's <paramref name="Added"/> characters that are not the document's.
    /// </summary>
    public sealed record Shift(int Line, int Column, int Added);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override bool Read()
    {
        if (!inner.Read()) return false;
        if (inner.Depth > maxDepth)
        {
            throw new CatalogFormatException("XML nested too deeply",
                $"Elements are nested more than {maxDepth} levels deep here; no catalog format nests that deep.", $"line {LineNumber}, column {LinePosition}");
        }
        return true;
    }

    /// <summary>
    /// Skipped by the reader beneath: a subtree passed over builds nothing, so its depth costs only its length (the base
    /// class would read it node by node through <see cref="Read"/>, a third of a CVRF document's parse).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Skip() => inner.Skip();

    public override int AttributeCount => inner.AttributeCount;
    public override string BaseURI => inner.BaseURI;
    public override int Depth { [MethodImpl(MethodImplOptions.AggressiveOptimization)] get => inner.Depth; }
    public override bool EOF => inner.EOF;
    public override bool IsEmptyElement { [MethodImpl(MethodImplOptions.AggressiveOptimization)] get => inner.IsEmptyElement; }
    public override string LocalName { [MethodImpl(MethodImplOptions.AggressiveOptimization)] get => inner.LocalName; }
    public override string NamespaceURI { [MethodImpl(MethodImplOptions.AggressiveOptimization)] get => inner.NamespaceURI; }
    public override XmlNameTable NameTable => inner.NameTable;
    public override XmlNodeType NodeType { [MethodImpl(MethodImplOptions.AggressiveOptimization)] get => inner.NodeType; }
    public override string Prefix => inner.Prefix;
    public override ReadState ReadState => inner.ReadState;
    public override string Value { [MethodImpl(MethodImplOptions.AggressiveOptimization)] get => inner.Value; }
    public override bool HasValue => inner.HasValue;
    public override bool IsDefault => inner.IsDefault;
    public override string GetAttribute(int i) => inner.GetAttribute(i);
    public override string? GetAttribute(string name) => inner.GetAttribute(name);
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override string? GetAttribute(string name, string? namespaceURI) => inner.GetAttribute(name, namespaceURI);
    public override string? LookupNamespace(string prefix) => inner.LookupNamespace(prefix);
    public override bool MoveToAttribute(string name) => inner.MoveToAttribute(name);
    public override bool MoveToAttribute(string name, string? ns) => inner.MoveToAttribute(name, ns);
    public override void MoveToAttribute(int i) => inner.MoveToAttribute(i);
    public override bool MoveToElement() => inner.MoveToElement();
    public override bool MoveToFirstAttribute() => inner.MoveToFirstAttribute();
    public override bool MoveToNextAttribute() => inner.MoveToNextAttribute();
    public override bool ReadAttributeValue() => inner.ReadAttributeValue();
    public override void ResolveEntity() => inner.ResolveEntity();

    public bool HasLineInfo() => inner is IXmlLineInfo info && info.HasLineInfo();
    public int LineNumber => inner is IXmlLineInfo info ? info.LineNumber + (shift is null || info.LineNumber == 0 ? 0 : shift.Line - 1) : 0;

    public int LinePosition => inner is IXmlLineInfo info
        ? info.LinePosition + (shift is null || info.LineNumber != 1 ? 0 : shift.Column - 1 - shift.Added)
        : 0;

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
