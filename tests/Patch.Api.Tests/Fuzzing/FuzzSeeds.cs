using System.IO.Compression;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Fuzzing;

/// <summary>
/// The real documents mutations start from (../shared/data, and the repository's own real-format samples). The parsers
/// get whole files; imports through the server get real slices of the big ones (a few bulletins of mssecure, a few
/// entries of KEV) so a case costs milliseconds, not a full catalog import.
/// </summary>
public static class FuzzSeeds
{
    // Old single-bulletin documents, the 2017 transition and modern monthly documents of the Security Update Guide.
    private static readonly string[] SmallCvrf = ["2005-Mar", "2009-Jul", "2012-Apr", "2013-Oct", "2015-Jan", "2017-May-B"];
    private static readonly string[] ModernCvrf = ["2016-Oct"];

    public static readonly Lazy<byte[][]> Cvrf = new(() => [.. SmallCvrf.Concat(ModernCvrf).Select(Archive)]);
    public static readonly Lazy<byte[][]> CvrfForImport = new(() => [.. SmallCvrf.Select(Archive)]);

    /// <summary>Small documents as the archive stores them, gzip-compressed (the importer opens them, <c>CatalogContainer</c>).</summary>
    public static readonly Lazy<byte[][]> CvrfGzip = new(() => [.. SmallCvrf.Select(m => SharedData.Bytes($"msrc-cvrf/archive/{m}.xml.gz"))]);

    /// <summary>The small months and 2016-Oct in the MSRC API's JSON form (<see cref="Catalog.CvrfJsonTwin"/>).</summary>
    public static readonly Lazy<byte[][]> CvrfJson = new(() => [.. SmallCvrf.Concat(ModernCvrf).Select(m => Catalog.CvrfJsonTwin.Of(new MemoryStream(Archive(m))))]);

    /// <summary>A modern document large enough to be read in pieces (ADR 0047).</summary>
    public static readonly Lazy<byte[][]> CvrfModern = new(() => [.. ModernCvrf.Select(Archive)]);

    /// <summary>Four real mssecure datastores of a dozen bulletins each (the products, locations and severities kept whole).</summary>
    public static readonly Lazy<byte[][]> MssecureForImport = new(() =>
    [
        .. new[] { 0, 60, 120, 200 }.Select(first =>
        {
            var doc = XDocument.Parse(File.ReadAllText(SharedData.PathOf(SharedData.Mssecure)));
            var bulletins = doc.Root!.Element("Bulletins")!.Elements("Bulletin").ToList();
            foreach (var (b, i) in bulletins.Select((b, i) => (b, i))) if (i < first || i >= first + 12) b.Remove();
            return System.Text.Encoding.UTF8.GetBytes(doc.ToString(SaveOptions.DisableFormatting));
        }),
    ]);

    /// <summary>The whole datastore and its slices (the slices keep a case fast; the whole file keeps every part of it in play).</summary>
    /// <summary>The real datastore, its slices, and one in the later shape (ratings and CVEs on the patches).</summary>
    public static readonly Lazy<byte[][]> Mssecure = new(() =>
        [SharedData.Bytes(SharedData.Mssecure), .. MssecureForImport.Value, System.Text.Encoding.UTF8.GetBytes(Catalog.when_reading_a_later_mssecure_datastore.Xml.TrimStart())]);

    public static readonly Lazy<byte[][]> Kev = new(() => [SharedData.Bytes(SharedData.Kev)]);

    /// <summary>CISA's CSV twin of the KEV catalog, whole and its first 40 rows.</summary>
    public static readonly Lazy<byte[][]> KevCsv = new(() =>
    [
        SharedData.Bytes(SharedData.KevCsv),
        System.Text.Encoding.UTF8.GetBytes(string.Join('\n', System.Text.Encoding.UTF8.GetString(SharedData.Bytes(SharedData.KevCsv)).Split('\n').Take(41))),
    ]);

    /// <summary>Four real KEV catalogs of 25 entries each.</summary>
    public static readonly Lazy<byte[][]> KevForImport = new(() =>
    [
        .. new[] { 0, 300, 700, 1100 }.Select(first =>
        {
            var node = JsonNode.Parse(SharedData.Bytes(SharedData.Kev))!;
            var all = node["vulnerabilities"]!.AsArray();
            var slice = new JsonArray([.. all.Skip(first).Take(25).Select(v => v!.DeepClone())]);
            node["vulnerabilities"] = slice;
            node["count"] = slice.Count;
            return System.Text.Encoding.UTF8.GetBytes(node.ToJsonString());
        }),
    ]);

    public static readonly Lazy<byte[][]> Patch = new(() => [File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json"))]);

    private static readonly string Inventory = "windows-inventory/wesng-validation";

    /// <summary>The real captures, and four of them as <c>systeminfo /fo csv</c> shows them (<see cref="SystemInfoAsCsv"/>).</summary>
    public static readonly Lazy<byte[][]> SystemInfo = new(() =>
    [
        .. Captures("*systeminfo*.txt"),
        .. Captures("*systeminfo*.txt").Select(b => SystemInfoAsCsv.Write(Domain.Inventory.InventoryText.Decode(b))).OfType<(string Header, string Values)>().Take(4)
            .Select(c => System.Text.Encoding.UTF8.GetBytes(c.Header + "\r\n" + c.Values + "\r\n")),
    ]);
    /// <summary>The real captures, and one of them (10_1809 pro) as <c>wmic qfe list /format:csv</c>, <c>/format:list</c> and <c>Get-HotFix | ConvertTo-Json</c> write it.</summary>
    public static readonly Lazy<byte[][]> Qfe = new(() =>
    [
        .. Captures("*_qfe.txt"),
        System.Text.Encoding.UTF8.GetBytes("""

            Node,Description,FixComments,HotFixID,InstallDate,InstalledBy,InstalledOn,Name,ServicePackInEffect,Status
            DESKTOP-LOQ9L09,Update,,KB4486553,,NT AUTHORITY\SYSTEM,3/7/2019,,,
            DESKTOP-LOQ9L09,Security Update,,KB4470788,,NT AUTHORITY\SYSTEM,3/1/2019,,,
            DESKTOP-LOQ9L09,Update,,KB4480056,,NT AUTHORITY\SYSTEM,3/7/2019,,,
            DESKTOP-LOQ9L09,Security Update,,KB4487038,,NT AUTHORITY\SYSTEM,3/1/2019,,,
            DESKTOP-LOQ9L09,Update,,KB4482887,,NT AUTHORITY\SYSTEM,3/7/2019,,,

            """),
        System.Text.Encoding.Unicode.GetBytes("\uFEFF\r\n\r\nCaption=http://support.microsoft.com/?kbid=4486553\r\nCSName=DESKTOP-LOQ9L09\r\nDescription=Update\r\n" +
            "FixComments=\r\nHotFixID=KB4486553\r\nInstallDate=\r\nInstalledBy=NT AUTHORITY\\SYSTEM\r\nInstalledOn=3/7/2019\r\nName=\r\n\r\n\r\n" +
            "Caption=https://support.microsoft.com/help/4470788\r\nCSName=DESKTOP-LOQ9L09\r\nDescription=Security Update\r\nFixComments=\r\nHotFixID=KB4470788\r\n" +
            "InstallDate=\r\nInstalledBy=NT AUTHORITY\\SYSTEM\r\nInstalledOn=3/1/2019\r\nName=\r\n\r\n\r\n"),
        System.Text.Encoding.UTF8.GetBytes("""
            [
                {
                    "Source":  "DESKTOP-LOQ9L09",
                    "Description":  "Update",
                    "HotFixID":  "KB4486553",
                    "InstalledBy":  "NT AUTHORITY\\SYSTEM",
                    "InstalledOn":  "\/Date(1551916800000)\/"
                },
                {
                    "Source":  "DESKTOP-LOQ9L09",
                    "Description":  "Security Update",
                    "HotFixID":  "KB4470788",
                    "InstalledBy":  "NT AUTHORITY\\SYSTEM",
                    "InstalledOn":  "\/Date(1551398400000)\/"
                }
            ]
            """),
    ]);

    public static readonly Lazy<byte[][]> Registry = new(() =>
        [.. Directory.GetFiles(SharedData.RepoFile("tests/Patch.Api.Tests/Inventory/registry"), "*.reg").Order(StringComparer.Ordinal).Select(File.ReadAllBytes)]);

    public static readonly Lazy<byte[][]> Vswhere = new(() => [File.ReadAllBytes(SharedData.RepoFile("tests/Patch.Api.Tests/Inventory/registry/vswhere.json"))]);

    /// <summary>The rules of the demo catalog (applicability and installed), each its own JSON document.</summary>
    public static readonly Lazy<byte[][]> Rules = new(() =>
    {
        var catalog = JsonNode.Parse(File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")))!;
        return [.. catalog["bulletins"]!.AsArray().SelectMany(b => b!["updates"]!.AsArray())
            .SelectMany(u => new[] { u!["applicability"], u["installed"] }).Where(r => r is not null)
            .Select(r => System.Text.Encoding.UTF8.GetBytes(r!.ToJsonString())).Distinct(ByteArrays.Instance)];
    });

    /// <summary>A computer list as an administrator exports it from a directory: real names, domains, OS captions and MACs.</summary>
    public static readonly Lazy<byte[][]> ComputersCsv = new(() =>
    [
        "name,domain,os,mac\nWS-001,corp,Windows 10 Enterprise,00:1A:2B:3C:4D:01\nWS-002,corp,Windows 10 Enterprise,00:1A:2B:3C:4D:02\nWS-003,corp,Windows 11 Pro,\nSRV-01,corp,Windows Server 2022,00-1A-2B-3C-4D-04\n"u8.ToArray(),
        "name,os\r\n\"LAPTOP-7\",\"Windows 11 Enterprise, 23H2\"\r\nSRV-2019,Windows Server 2019 Datacenter\r\n"u8.ToArray(),
        "#TYPE Selected.Microsoft.ActiveDirectory.Management.ADComputer\r\n\"Name\",\"DNSHostName\",\"OperatingSystem\",\"Enabled\"\r\n\"WS-001\",\"ws-001.corp.example.com\",\"Windows 10 Enterprise\",\"True\"\r\n"u8.ToArray(),
    ]);

    private static byte[][] Captures(string pattern) =>
        [.. Directory.GetFiles(SharedData.PathOf(Inventory + "/LICENSE-wesng.txt")[..^"LICENSE-wesng.txt".Length], pattern).Order(StringComparer.Ordinal).Select(File.ReadAllBytes)];

    private static byte[] Archive(string month)
    {
        using var gz = new GZipStream(SharedData.Open($"msrc-cvrf/archive/{month}.xml.gz"), CompressionMode.Decompress);
        using var copy = new MemoryStream();
        gz.CopyTo(copy);
        return copy.ToArray();
    }

    private sealed class ByteArrays : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrays Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => obj.Length;
    }
}
