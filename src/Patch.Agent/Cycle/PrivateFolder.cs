using System.Runtime.Versioning;
using System.Security.AccessControl;
using System.Security.Principal;

namespace Patch.Agent.Cycle;

/// <summary>
/// The agent's state folder on Windows (its credential, its outbox, its lock): under ProgramData a new folder inherits
/// read access for every local user, who could then read the credential, report as this computer, or hold the lock file
/// and stop every cycle. It is made — or, made by an earlier version, set — to let only SYSTEM and Administrators in,
/// inheriting nothing; what is created in it afterwards takes that access list. The CLI (<c>cycle</c>, <c>defer</c>)
/// therefore runs elevated.
/// </summary>
[SupportedOSPlatform("windows")]
public static class PrivateFolder
{
    public static void Create(string directory)
    {
        var security = new DirectorySecurity();
        security.SetAccessRuleProtection(isProtected: true, preserveInheritance: false);
        foreach (var sid in new[] { WellKnownSidType.LocalSystemSid, WellKnownSidType.BuiltinAdministratorsSid })
            security.AddAccessRule(new FileSystemAccessRule(new SecurityIdentifier(sid, null), FileSystemRights.FullControl,
                InheritanceFlags.ContainerInherit | InheritanceFlags.ObjectInherit, PropagationFlags.None, AccessControlType.Allow));
        var folder = new DirectoryInfo(directory);
        if (!folder.Exists) folder.Create(security);
        else if (!IsPrivate(folder.GetAccessControl())) folder.SetAccessControl(security);
    }

    /// <summary>Whether the folder already lets in only SYSTEM and Administrators, inheriting nothing (it is not set again at every write).</summary>
    private static bool IsPrivate(DirectorySecurity current)
    {
        if (!current.AreAccessRulesProtected) return false;
        var allowed = new[] { new SecurityIdentifier(WellKnownSidType.LocalSystemSid, null), new SecurityIdentifier(WellKnownSidType.BuiltinAdministratorsSid, null) };
        return current.GetAccessRules(true, true, typeof(SecurityIdentifier)).Cast<FileSystemAccessRule>()
            .All(r => r.AccessControlType == AccessControlType.Allow && allowed.Contains((SecurityIdentifier)r.IdentityReference));
    }
}
